"""The FastAPI service (webhook, chat, approvals, pages), the CLI and settings."""
