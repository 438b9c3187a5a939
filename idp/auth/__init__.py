"""Sign-in methods (password, second factors, certificates) and the SSO session."""
