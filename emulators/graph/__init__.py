"""Microsoft Graph v1.0 emulator: users, groups, delta, subscriptions and delivery."""
