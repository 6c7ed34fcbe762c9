//! The step or continuous mode the operator chose last, kept in `.baton/mode` so a restarted
//! screen runs as it was left (the config's `[run] mode` is the default until one is chosen).

use std::path::Path;

use super::config::Mode;

const FILE: &str = "mode";

/// The mode chosen last in the project whose `.baton/` is `baton_dir`, if one was.
pub fn saved(baton_dir: &Path) -> Option<Mode> {
    match std::fs::read_to_string(baton_dir.join(FILE)).ok()?.trim() {
        "step" => Some(Mode::Step),
        "continuous" => Some(Mode::Continuous),
        _ => None,
    }
}

/// Keeps `mode` as the one chosen last.
pub fn save(baton_dir: &Path, mode: Mode) -> std::io::Result<()> {
    let word = if mode == Mode::Continuous { "continuous\n" } else { "step\n" };
    super::fsio::atomic_write(&baton_dir.join(FILE), word.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mode_chosen_last_is_read_back_and_nothing_else_is_a_mode() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(saved(dir.path()), None);
        save(dir.path(), Mode::Continuous).unwrap();
        assert_eq!(saved(dir.path()), Some(Mode::Continuous));
        save(dir.path(), Mode::Step).unwrap();
        assert_eq!(saved(dir.path()), Some(Mode::Step));
        std::fs::write(dir.path().join(FILE), "sideways").unwrap();
        assert_eq!(saved(dir.path()), None);
    }
}
