//! Go's `%q` quoting (`strconv.Quote`, `strconv.QuoteRune`), so error
//! messages read exactly like the go command's.

use std::fmt::Write;

fn escape_into(out: &mut String, c: char, quote: char) {
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if c.is_ascii() => {
            if c.is_ascii_graphic() || c == ' ' {
                out.push(c);
            } else {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
        }
        c => {
            let printable = is_go_print(c);
            if printable {
                out.push(c);
            } else if (c as u32) < 0x10000 {
                let _ = write!(out, "\\u{:04x}", c as u32);
            } else {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
}

/// Go's `unicode.IsPrint` for non-ASCII: letters, marks, numbers,
/// punctuation and symbols (categories L, M, N, P, S); no spaces, controls,
/// format characters or unassigned code points.
fn is_go_print(c: char) -> bool {
    use unicode_general_category::{GeneralCategory as G, get_general_category};
    !matches!(
        get_general_category(c),
        G::SpaceSeparator
            | G::LineSeparator
            | G::ParagraphSeparator
            | G::Control
            | G::Format
            | G::Surrogate
            | G::PrivateUse
            | G::Unassigned
    )
}

/// `s` in double quotes with Go's escapes, like `fmt.Sprintf("%q", s)`.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        escape_into(&mut out, c, '"');
    }
    out.push('"');
    out
}

/// `c` in single quotes with Go's escapes, like `fmt.Sprintf("%q", r)`.
pub(crate) fn go_quote_rune(c: char) -> String {
    let mut out = String::with_capacity(4);
    out.push('\'');
    escape_into(&mut out, c, '\'');
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("\0\n"), r#""\x00\n""#);
        assert_eq!(go_quote("испытание"), "\"испытание\"");
        assert_eq!(go_quote("\u{a0}"), r#""\u00a0""#);
        // Combining marks print as themselves, as in Go.
        assert_eq!(go_quote("x\u{36a}."), "\"x\u{36a}.\"");
        assert_eq!(go_quote("\u{200b}\u{e000}"), r#""\u200b\ue000""#);
        assert_eq!(go_quote_rune('\''), r"'\''");
        assert_eq!(go_quote_rune('"'), "'\"'");
        assert_eq!(go_quote_rune('☺'), "'☺'");
        assert_eq!(go_quote_rune(' '), "' '");
    }
}
