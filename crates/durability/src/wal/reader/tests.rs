use super::*;
use crate::vfs::{OpenMode, StdFs, Vfs, write_all_at};

fn file_with(bytes: &[u8]) -> (tempfile::TempDir, Box<dyn VfsFile>) {
    let tmp = tempfile::tempdir().unwrap();
    let file = StdFs
        .open(&tmp.path().join("f"), OpenMode::CreateNew)
        .unwrap();
    write_all_at(&*file, bytes, 0).unwrap();
    (tmp, file)
}

#[test]
fn every_range_reads_back_whatever_the_window() {
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (_tmp, file) = file_with(&data);
    let mut reader = WindowReader::new(&*file, 1000, 64);
    for (offset, n) in [
        (0, 10),
        (60, 10),
        (5, 200),
        (990, 10),
        (0, 1000),
        (500, 0),
        (63, 2),
    ] {
        let got = reader.get(offset, n).unwrap().to_vec();
        assert_eq!(
            got,
            &data[offset as usize..offset as usize + n],
            "{offset}+{n}"
        );
    }
}

#[test]
fn zero_scans_find_the_first_and_last_nonzero_bytes() {
    let mut data = vec![0u8; 5000];
    data[1234] = 1;
    data[4321] = 2;
    let (_tmp, file) = file_with(&data);
    let mut reader = WindowReader::new(&*file, 5000, 100);
    assert_eq!(reader.first_nonzero(0).unwrap(), Some(1234));
    assert_eq!(reader.first_nonzero(1235).unwrap(), Some(4321));
    assert_eq!(reader.first_nonzero(4322).unwrap(), None);
    assert_eq!(reader.nonzero_end(0).unwrap(), 4322);
    assert_eq!(reader.nonzero_end(4322).unwrap(), 4322);
}

#[test]
fn the_block_scans_find_what_a_byte_by_byte_scan_finds() {
    // Every length around the block size and its multiples, with a non-zero byte at every
    // position (and none): the blocks' edges and the remainder are where a scan would slip.
    for len in [0, 1, 63, 64, 65, 127, 128, 129, 200, 300] {
        let zeros = vec![0u8; len];
        assert_eq!(first_nonzero_in(&zeros), None, "{len}");
        assert_eq!(last_nonzero_in(&zeros), None, "{len}");
        for at in 0..len {
            for other in [None, Some(0), Some(len / 2), Some(len - 1)] {
                let mut bytes = zeros.clone();
                bytes[at] = 0x80;
                if let Some(o) = other {
                    bytes[o] = 1;
                }
                assert_eq!(
                    first_nonzero_in(&bytes),
                    bytes.iter().position(|&b| b != 0),
                    "{len} {at} {other:?}"
                );
                assert_eq!(
                    last_nonzero_in(&bytes),
                    bytes.iter().rposition(|&b| b != 0),
                    "{len} {at} {other:?}"
                );
            }
        }
    }
}
