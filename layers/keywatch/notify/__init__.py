"""Notifications: what a responder reads, and the channels that carry it."""
