"""Who is calling (HTTP Basic against `[users]` or GMS's own credentials) and what they may do."""
