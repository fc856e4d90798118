"""Serving a trained model: batch predictions, the REST API and its lean single-request path."""
