//! A terminal emulator's screen (vt100 cells, with their colours and weights) as an SVG image:
//! how the README shows the real binary's screen (VHS cannot be installed on these machines).

use std::fmt::Write;

/// Cell size in pixels, for a 14 px monospace font.
const CELL_W: f64 = 8.4;
const CELL_H: f64 = 17.0;
const FG: &str = "#d8dee9";
const BG: &str = "#1e2127";

/// The xterm palette's first sixteen colours (a dark theme's).
const BASE: [&str; 16] = [
    "#3b4048", "#e06c75", "#98c379", "#e5c07b", "#61afef", "#c678dd", "#56b6c2", "#abb2bf", "#5c6370", "#ef7b85",
    "#a8d389", "#f5d08b", "#71bfff", "#d688ed", "#66c6d2", "#ffffff",
];

fn colour(c: vt100::Color, default: &str) -> String {
    match c {
        vt100::Color::Default => default.to_owned(),
        vt100::Color::Idx(i) if i < 16 => BASE[i as usize].to_owned(),
        vt100::Color::Idx(i) if i < 232 => {
            let i = i - 16;
            let level = |n: u8| if n == 0 { 0 } else { 55 + 40 * n };
            format!("#{:02x}{:02x}{:02x}", level(i / 36), level((i / 6) % 6), level(i % 6))
        }
        vt100::Color::Idx(i) => {
            let g = 8 + 10 * (i - 232);
            format!("#{g:02x}{g:02x}{g:02x}")
        }
        vt100::Color::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// One run of cells drawn alike.
#[derive(PartialEq, Clone)]
struct Look {
    fg: String,
    bg: String,
    bold: bool,
    dim: bool,
}

fn look(cell: &vt100::Cell) -> Look {
    let (mut fg, mut bg) = (colour(cell.fgcolor(), FG), colour(cell.bgcolor(), BG));
    if cell.inverse() {
        std::mem::swap(&mut fg, &mut bg);
    }
    Look { fg, bg, bold: cell.bold(), dim: cell.dim() }
}

/// The whole screen as an SVG document.
pub fn render(screen: &vt100::Screen) -> String {
    let (rows, cols) = screen.size();
    let (rows, cols) = (u16::from(rows), u16::from(cols));
    let (w, h) = (f64::from(cols) * CELL_W + 16.0, f64::from(rows) * CELL_H + 16.0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="'DejaVu Sans Mono', 'Menlo', 'Consolas', monospace" font-size="14">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" rx="6" fill="{BG}"/>"#);
    let _ = writeln!(out, r#"<g transform="translate(8 8)" xml:space="preserve">"#);
    for row in 0..rows {
        let y = f64::from(row) * CELL_H;
        let mut col = 0;
        while col < cols {
            let Some(first) = screen.cell(row, col) else { break };
            let style = look(first);
            let start = col;
            let mut text = String::new();
            // Cells up to the run's last visible character: trailing blanks are not stretched over.
            let mut inked = 0;
            while col < cols {
                let Some(cell) = screen.cell(row, col) else { break };
                if cell.is_wide_continuation() {
                    col += 1;
                    continue;
                }
                if look(cell) != style {
                    break;
                }
                let c = if cell.has_contents() { cell.contents() } else { " " };
                text.push_str(c);
                col += if cell.is_wide() { 2 } else { 1 };
                if !c.trim().is_empty() {
                    inked = col - start;
                }
            }
            let x = f64::from(start) * CELL_W;
            let width = f64::from(col - start) * CELL_W;
            // Leading blanks are cells to skip, not text: a viewer may collapse them.
            let lead = text.chars().take_while(|c| *c == ' ').count();
            let text_x = x + lead as f64 * CELL_W;
            let text_width = f64::from(inked).max(lead as f64) * CELL_W - lead as f64 * CELL_W;
            let text = text.trim().to_owned();
            if style.bg != BG {
                let _ = writeln!(
                    out,
                    r#"<rect x="{x:.1}" y="{y:.1}" width="{width:.1}" height="{CELL_H}" fill="{}"/>"#,
                    style.bg
                );
            }
            if !text.trim().is_empty() {
                let weight = if style.bold { r#" font-weight="bold""# } else { "" };
                let opacity = if style.dim { r#" fill-opacity="0.6""# } else { "" };
                // Each run is stretched to its cells, so box-drawing lines meet whatever the font.
                let _ = writeln!(
                    out,
                    r#"<text x="{text_x:.1}" y="{:.1}" fill="{}"{weight}{opacity} textLength="{text_width:.1}" lengthAdjust="spacingAndGlyphs">{}</text>"#,
                    y + CELL_H - 4.0,
                    style.fg,
                    escape(&text)
                );
            }
        }
    }
    out.push_str("</g>\n</svg>\n");
    out
}
