"""The audit log: every security event, as a hash chain that shows tampering."""
