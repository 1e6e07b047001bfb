//! Durability of in-mem: segmented write-ahead log, group commit, recovery, file-system trait
