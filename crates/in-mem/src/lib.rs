//! in-mem: an embedded, durable, memory-resident database for AI agent state
