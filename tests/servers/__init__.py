"""Real servers for tests: a throwaway Dovecot (IMAP) and an aiosmtpd recorder (SMTP)."""
