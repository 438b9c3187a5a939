"""``idp`` commands of the OpenID Connect provider."""
