"""OpenID Connect Core 1.0 and OAuth 2.0 endpoints: relying parties integrate here only."""
