"""The Flask views of the OpenID Connect endpoints: each hands the request to the server."""
