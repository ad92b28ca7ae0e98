//! A small document model rendered to Markdown and to minimal HTML, so the
//! two outputs always say the same thing. Inline text may use `code`,
//! **bold** and [links](#anchor).

/// One block of the report.
#[derive(Debug, Clone)]
pub enum Block {
    Heading(u8, String),
    Para(String),
    List(Vec<String>),
    Table(Vec<String>, Vec<Vec<String>>),
    Image { file: String, alt: String },
    Code(String),
}

#[derive(Debug, Clone, Default)]
pub struct Doc {
    pub blocks: Vec<Block>,
}

/// GitHub's heading anchor: lower case, punctuation dropped, spaces to `-`.
pub fn anchor(text: &str) -> String {
    text.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

impl Doc {
    pub fn h(&mut self, level: u8, text: impl Into<String>) {
        self.blocks.push(Block::Heading(level, text.into()));
    }
    pub fn p(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Para(text.into()));
    }
    pub fn list(&mut self, items: Vec<String>) {
        if !items.is_empty() {
            self.blocks.push(Block::List(items));
        }
    }
    pub fn table(&mut self, header: &[&str], rows: Vec<Vec<String>>) {
        self.blocks.push(Block::Table(
            header.iter().map(|s| s.to_string()).collect(),
            rows,
        ));
    }
    pub fn image(&mut self, file: impl Into<String>, alt: impl Into<String>) {
        self.blocks.push(Block::Image {
            file: file.into(),
            alt: alt.into(),
        });
    }
    pub fn code(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Code(text.into()));
    }

    /// Level-2 headings, for the table of contents.
    pub fn sections(&self) -> Vec<String> {
        self.blocks
            .iter()
            .filter_map(|b| match b {
                Block::Heading(2, t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        for b in &self.blocks {
            match b {
                Block::Heading(l, t) => {
                    out.push_str(&"#".repeat(usize::from(*l)));
                    out.push(' ');
                    out.push_str(t);
                    out.push('\n');
                }
                Block::Para(t) => {
                    out.push_str(t);
                    out.push('\n');
                }
                Block::List(items) => {
                    for i in items {
                        out.push_str("- ");
                        out.push_str(&i.replace('\n', "\n  "));
                        out.push('\n');
                    }
                }
                Block::Table(h, rows) => {
                    let line = |cells: &[String]| {
                        format!(
                            "| {} |\n",
                            cells
                                .iter()
                                .map(|c| md_cell(c))
                                .collect::<Vec<_>>()
                                .join(" | ")
                        )
                    };
                    out.push_str(&line(h));
                    out.push_str(&format!("|{}\n", "---|".repeat(h.len())));
                    for r in rows {
                        out.push_str(&line(r));
                    }
                }
                Block::Image { file, alt } => {
                    out.push_str(&format!("![{alt}]({file})\n"));
                }
                Block::Code(t) => {
                    out.push_str("```\n");
                    out.push_str(t.trim_end());
                    out.push_str("\n```\n");
                }
            }
            out.push('\n');
        }
        out
    }

    pub fn to_html(&self, title: &str) -> String {
        let mut out = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n\
             <style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;line-height:1.45}}\
             table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:.25em .5em;text-align:left}}\
             th{{background:#f3f3f3}}code,pre{{background:#f6f6f6}}pre{{padding:.6em;overflow-x:auto}}\
             img{{max-width:100%}}</style>\n</head>\n<body>\n",
            escape(title)
        );
        for b in &self.blocks {
            match b {
                Block::Heading(l, t) => out.push_str(&format!(
                    "<h{l} id=\"{}\">{}</h{l}>\n",
                    anchor(t),
                    inline(t)
                )),
                Block::Para(t) => out.push_str(&format!("<p>{}</p>\n", inline(t))),
                Block::List(items) => {
                    out.push_str("<ul>\n");
                    for i in items {
                        out.push_str(&format!("<li>{}</li>\n", inline(i)));
                    }
                    out.push_str("</ul>\n");
                }
                Block::Table(h, rows) => {
                    out.push_str("<table>\n<tr>");
                    for c in h {
                        out.push_str(&format!("<th>{}</th>", inline(c)));
                    }
                    out.push_str("</tr>\n");
                    for r in rows {
                        out.push_str("<tr>");
                        for c in r {
                            out.push_str(&format!("<td>{}</td>", inline(c)));
                        }
                        out.push_str("</tr>\n");
                    }
                    out.push_str("</table>\n");
                }
                Block::Image { file, alt } => out.push_str(&format!(
                    "<p><img src=\"{}\" alt=\"{}\"></p>\n",
                    escape(file),
                    escape(alt)
                )),
                Block::Code(t) => out.push_str(&format!(
                    "<pre><code>{}</code></pre>\n",
                    escape(t.trim_end())
                )),
            }
        }
        out.push_str("</body>\n</html>\n");
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `code`, **bold** and [text](url) to HTML; everything else escaped.
fn inline(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str(&format!("<code>{}</code>", escape(part)));
            continue;
        }
        let mut t = escape(part);
        // **bold**
        let mut bold = String::new();
        for (j, b) in t.split("**").enumerate() {
            if j % 2 == 1 {
                bold.push_str(&format!("<strong>{b}</strong>"));
            } else {
                bold.push_str(b);
            }
        }
        t = bold;
        // [text](url)
        let mut linked = String::new();
        let mut rest = t.as_str();
        while let Some(open) = rest.find('[') {
            let after = &rest[open + 1..];
            let Some(close) = after.find("](") else {
                break;
            };
            let Some(end) = after[close + 2..].find(')') else {
                break;
            };
            linked.push_str(&rest[..open]);
            let text = &after[..close];
            let url = &after[close + 2..close + 2 + end];
            linked.push_str(&format!("<a href=\"{url}\">{text}</a>"));
            rest = &after[close + 3 + end..];
        }
        linked.push_str(rest);
        out.push_str(&linked);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_follow_github() {
        assert_eq!(
            anchor("3. Judge vs self-evaluation"),
            "3-judge-vs-self-evaluation"
        );
        assert_eq!(anchor("Results (Elo ± 95% CI)"), "results-elo--95-ci");
    }

    #[test]
    fn renders_both_formats() {
        let mut d = Doc::default();
        d.h(1, "Title");
        d.h(2, "1. Protocol");
        d.p("see [the table](#1-protocol) and `a<b` **now**");
        d.table(&["a", "b|c"], vec![vec!["1".into(), "x|y".into()]]);
        d.image("plot.png", "a plot");
        d.code("x = 1");
        let md = d.to_markdown();
        assert!(md.contains("## 1. Protocol\n"));
        assert!(md.contains("| a | b\\|c |\n|---|---|\n| 1 | x\\|y |"));
        assert!(md.contains("![a plot](plot.png)"));
        let html = d.to_html("T");
        assert!(html.contains("<h2 id=\"1-protocol\">1. Protocol</h2>"));
        assert!(html.contains("<a href=\"#1-protocol\">the table</a>"));
        assert!(html.contains("<code>a&lt;b</code>"));
        assert!(html.contains("<strong>now</strong>"));
        assert!(html.contains("<img src=\"plot.png\" alt=\"a plot\">"));
        assert_eq!(d.sections(), vec!["1. Protocol".to_string()]);
    }
}
