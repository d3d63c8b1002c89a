"""Frontdesk: a self-hosted front desk for Facebook Pages on Messenger."""
