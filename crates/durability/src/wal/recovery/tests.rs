use super::*;

fn v(n: u64) -> Version {
    Version::new(n)
}

#[test]
fn versions_are_contiguous_above_the_checkpoint_and_increasing_below_it() {
    // No checkpoint: contiguous from 1.
    assert_eq!(check_version(None, v(1), v(0)), Ok(()));
    assert_eq!(check_version(None, v(2), v(0)), Err(v(1)));
    assert_eq!(check_version(Some(v(1)), v(2), v(0)), Ok(()));
    assert_eq!(check_version(Some(v(1)), v(3), v(0)), Err(v(2)));
    assert_eq!(check_version(Some(v(2)), v(2), v(0)), Err(v(3)));
    // Below the checkpoint only order matters; the first record above it is after + 1.
    assert_eq!(check_version(None, v(4), v(10)), Ok(()));
    assert_eq!(check_version(Some(v(3)), v(6), v(10)), Ok(()));
    assert_eq!(check_version(Some(v(6)), v(6), v(10)), Err(v(7)));
    assert_eq!(check_version(Some(v(6)), v(11), v(10)), Ok(()));
    assert_eq!(check_version(Some(v(6)), v(12), v(10)), Err(v(11)));
    assert_eq!(check_version(None, v(11), v(10)), Ok(()));
    assert_eq!(check_version(None, v(12), v(10)), Err(v(11)));
    // Above the checkpoint, contiguous.
    assert_eq!(check_version(Some(v(11)), v(12), v(10)), Ok(()));
    assert_eq!(check_version(Some(v(11)), v(13), v(10)), Err(v(12)));
}
