//! Persistence for the SM-SR and the SM-DP on SQLite (embedded default) and PostgreSQL (diesel).
