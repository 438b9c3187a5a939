"""The blueprint every OpenID Connect endpoint module adds its routes to."""

from flask import Blueprint

bp = Blueprint("oidc", __name__)
