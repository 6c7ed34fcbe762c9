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
    // The review of session 2, over the four panes: what the README's caption says.
    let text = screen.wait_for("Review · session 2 (coding)", Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(600));
    let svg = screen.svg();
    screen.send("q");
    screen.send("q");
    screen.wait_exit(Duration::from_secs(20));

    // The picture holds what the terminal showed: the dialog, the panes, in colour.
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("Review · session 2 (coding)"), "{text}");
    assert!(svg.contains("Feature 1: implement and test it"), "the review's commit: {text}");
    assert!(svg.contains("Features") && svg.contains("Transcript"), "{text}");
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
    assert!(kept.contains("Review · session 2 (coding)"), "the kept picture is of the same moment");
    let readme = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let top: String = readme.lines().take(30).collect::<Vec<_>>().join("\n");
    assert!(top.contains("assets/screen.svg"), "the README shows the picture near its top");
}

/// A pane's title is drawn in one style from end to end, also where a dialog that covered part of
/// it has closed: the escape codes the screen writes, read back by a terminal emulator.
#[test]
fn a_pane_title_is_drawn_in_one_style_after_a_dialog_closes() {
    use ratatui::crossterm::event::KeyCode;
    /// The bytes the terminal was sent.
    #[derive(Clone, Default)]
    struct Sent(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Sent {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut app = common::screen::busy_app();
    let review = Box::new(common::screen::review());
    app.on_harness(baton::harness::HarnessEvent::ReviewNeeded { review, waiting: true });
    let sent = Sent::default();
    let viewport = ratatui::Viewport::Fixed(ratatui::layout::Rect::new(0, 0, 120, 40));
    let backend = ratatui::backend::CrosstermBackend::new(sent.clone());
    let mut terminal = ratatui::Terminal::with_options(backend, ratatui::TerminalOptions { viewport }).unwrap();
    terminal.draw(|f| app.render(f)).unwrap();
    app.on_key(common::screen::code(KeyCode::Esc));
    terminal.draw(|f| app.render(f)).unwrap();
    let mut vt = vt100::Parser::new(std::num::NonZero::new(40).unwrap(), std::num::NonZero::new(120).unwrap(), 0);
    vt.process(&sent.0.lock().unwrap());
    let screen = vt.screen();
    for title in ["Features 1/4", "Progress · claude-progress.txt", "Git log · 2 commits"] {
        let (row, text) = (0..40u16)
            .map(|r| {
                (
                    r,
                    (0..120u16)
                        .map(|c| screen.cell(r, c).map_or(" ".to_owned(), |x| x.contents().to_owned()))
                        .collect::<String>(),
                )
            })
            .find(|(_, t)| t.contains(title))
            .unwrap_or_else(|| panic!("{title} is not on screen"));
        let from = text[..text.find(title).unwrap()].chars().count() as u16;
        let looks: std::collections::HashSet<(bool, bool)> = (from..from + title.chars().count() as u16)
            .filter_map(|c| screen.cell(row, c))
            .map(|c| (c.bold(), c.dim()))
            .collect();
        assert_eq!(looks.len(), 1, "the title {title} is drawn in several styles: {looks:?}");
    }
}
