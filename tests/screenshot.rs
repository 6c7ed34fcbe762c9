//! The README's picture of the screen: the real binary on its demo, in a pseudo-terminal, read
//! back cell by cell with its colours and drawn as SVG. `scripts/screenshot` writes it to
//! `assets/screen.svg`; every run of the suite draws it and checks what it shows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::pty::Screen;

#[test]
fn the_readme_shows_the_real_screen_waiting_for_a_review() {
    let sandbox = common::Sandbox::new();
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("tally");
    let mut screen = Screen::start(
        sandbox.home.path(),
        parent.path(),
        &["demo", dir.to_str().unwrap(), "--pace", "fast"],
        (120, 40),
        &[],
    );
    screen.wait_for("Review · session 1 (initializer)", Duration::from_secs(60));
    // The demo runs on by itself (continuous): session 2 starts once session 1 is approved.
    screen.send("y");
    screen.wait_for("Review · session 2 (coding)", Duration::from_secs(60));
    // The dialog hidden (it would cover the panes): the four panes at the review of session 2.
    screen.send("\x1b");
    let text = screen.wait_until(|t| !t.contains("Review · session 2"), "the dialog hidden", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(600));
    let svg = screen.svg();
    screen.send("q");
    screen.send("q");
    screen.wait_exit(Duration::from_secs(20));

    // The picture holds what the terminal showed: the dialog, the panes, in colour.
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("session 2 waits for a verdict"), "{text}");
    assert!(svg.contains("Features") && svg.contains("Git log"), "{text}");
    assert!(svg.contains("font-weight=\"bold\""), "bold cells are bold");
    let fills: std::collections::HashSet<&str> =
        svg.match_indices("fill=\"#").map(|(i, _)| &svg[i + 6..i + 13]).collect();
    assert!(fills.len() >= 4, "drawn in colour: {fills:?}");
    assert!(!svg.contains("<text") || !svg.contains("&amp;lt;"), "text is escaped once");

    let assets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/screen.svg");
    if std::env::var_os("BATON_WRITE_SCREENSHOT").is_some() {
        std::fs::write(&assets, &svg).unwrap();
    }
    let kept = std::fs::read_to_string(&assets).expect("assets/screen.svg is kept in the repo");
    assert!(kept.contains("session 2 waits for a verdict"), "the kept picture is of the same moment");
    let readme = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let top: String = readme.lines().take(30).collect::<Vec<_>>().join("\n");
    assert!(top.contains("assets/screen.svg"), "the README shows the picture near its top");
}
