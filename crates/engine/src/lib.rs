//! The in-mem Database: runs, commit pipeline, recovery wiring, background work
