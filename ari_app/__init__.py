"""ari-app: voice verification calls on Asterisk, through ARI."""

__version__ = "0.1.0"
