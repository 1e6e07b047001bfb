//! MVCC memtable of in-mem: versioned skiplist, newest-version index, version counter, TTL
