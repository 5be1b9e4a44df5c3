//! Checks on agent-written text before a person reads it. Escaping (askama) already keeps
//! HTML and script inert; what escaping cannot show is text that reads differently from
//! what it is: bidi controls that reorder a line, invisible characters that hide content
//! (or smuggle instructions), and words that mix Latin with Cyrillic or Greek look-alikes
//! (`pаypal` with a Cyrillic `а`). These are found here, named, and shown next to the field.

/// One suspicious thing found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A Unicode bidirectional control: the text may display in another order.
    Bidi(char),
    /// A character that displays as nothing.
    Invisible(char),
    /// A word mixing scripts: the word and the scripts it mixes.
    MixedScript { word: String, scripts: String },
}

impl Finding {
    /// What the badge says, naming the code point or the word.
    pub fn describe(&self) -> String {
        match self {
            Finding::Bidi(c) => format!("bidi control {} ({})", code(*c), name(*c)),
            Finding::Invisible(c) => format!("invisible {} ({})", code(*c), name(*c)),
            Finding::MixedScript { word, scripts } => {
                format!("mixed scripts in \"{}\" ({scripts})", reveal(word))
            }
        }
    }
}

/// `U+202E`.
pub fn code(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200D}'
            | '\u{2060}'..='\u{2064}'
            | '\u{FEFF}'
            | '\u{00AD}'
            | '\u{034F}'
            | '\u{180E}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{3164}'
            | '\u{FFA0}'
            // Tag characters: invisible ASCII look-alikes used to smuggle instructions.
            | '\u{E0000}'..='\u{E007F}'
    )
}

fn name(c: char) -> &'static str {
    match c {
        '\u{202A}' => "left-to-right embedding",
        '\u{202B}' => "right-to-left embedding",
        '\u{202C}' => "pop directional formatting",
        '\u{202D}' => "left-to-right override",
        '\u{202E}' => "right-to-left override",
        '\u{2066}' => "left-to-right isolate",
        '\u{2067}' => "right-to-left isolate",
        '\u{2068}' => "first strong isolate",
        '\u{2069}' => "pop directional isolate",
        '\u{200E}' => "left-to-right mark",
        '\u{200F}' => "right-to-left mark",
        '\u{061C}' => "Arabic letter mark",
        '\u{200B}' => "zero width space",
        '\u{200C}' => "zero width non-joiner",
        '\u{200D}' => "zero width joiner",
        '\u{2060}' => "word joiner",
        '\u{FEFF}' => "zero width no-break space",
        '\u{00AD}' => "soft hyphen",
        '\u{E0000}'..='\u{E007F}' => "tag character",
        _ => "invisible",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Script {
    Latin,
    Greek,
    Cyrillic,
}

fn script(c: char) -> Option<Script> {
    match c {
        'a'..='z' | 'A'..='Z' | '\u{00C0}'..='\u{024F}' if c != '\u{00D7}' && c != '\u{00F7}' => {
            Some(Script::Latin)
        }
        '\u{0370}'..='\u{03FF}' | '\u{1F00}'..='\u{1FFF}' => Some(Script::Greek),
        '\u{0400}'..='\u{052F}' => Some(Script::Cyrillic),
        _ => None,
    }
}

/// Everything suspicious in `text`: each distinct bidi or invisible code point once, and
/// each word that mixes Latin with Cyrillic or Greek letters (or those two together).
pub fn scan(text: &str) -> Vec<Finding> {
    let mut found = Vec::new();
    for c in text.chars() {
        let f = if is_bidi(c) {
            Finding::Bidi(c)
        } else if is_invisible(c) {
            Finding::Invisible(c)
        } else {
            continue;
        };
        if !found.contains(&f) {
            found.push(f);
        }
    }
    // Words: runs of letters and digits, invisible characters included so that a zero
    // width joiner does not split a look-alike word in two.
    for word in text.split(|c: char| !(c.is_alphanumeric() || is_invisible(c))) {
        let mut scripts: Vec<Script> = word.chars().filter_map(script).collect();
        scripts.sort();
        scripts.dedup();
        if scripts.len() > 1 {
            let names: Vec<&str> = scripts
                .iter()
                .map(|s| match s {
                    Script::Latin => "Latin",
                    Script::Greek => "Greek",
                    Script::Cyrillic => "Cyrillic",
                })
                .collect();
            let f = Finding::MixedScript {
                word: word.to_owned(),
                scripts: names.join(" + "),
            };
            if !found.contains(&f) {
                found.push(f);
            }
        }
    }
    found
}

/// `text` with every bidi control and invisible character replaced by a visible marker
/// (`⟦U+202E⟧`), for display; the editor keeps the text as it is.
pub fn reveal(text: &str) -> String {
    if !text.chars().any(|c| is_bidi(c) || is_invisible(c)) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_bidi(c) || is_invisible(c) {
            out.push('⟦');
            out.push_str(&code(c));
            out.push('⟧');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_has_no_findings() {
        assert!(scan("Hello, the invoice copy is attached. Ünïcødé façade ok.").is_empty());
        assert!(scan("Привет, мир").is_empty(), "Cyrillic alone is fine");
        assert!(scan("Καλημέρα κόσμε").is_empty(), "Greek alone is fine");
    }

    #[test]
    fn bidi_controls_are_named_once_each() {
        let found = scan("invoice\u{202E}fdp.exe and \u{202E} again \u{2066}x\u{2069}");
        assert_eq!(
            found,
            vec![
                Finding::Bidi('\u{202E}'),
                Finding::Bidi('\u{2066}'),
                Finding::Bidi('\u{2069}')
            ]
        );
        assert_eq!(
            found[0].describe(),
            "bidi control U+202E (right-to-left override)"
        );
        for c in ['\u{200E}', '\u{200F}', '\u{061C}', '\u{202A}'] {
            assert_eq!(scan(&format!("a{c}b")), vec![Finding::Bidi(c)]);
        }
    }

    #[test]
    fn invisible_characters_are_found() {
        for c in [
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{E0041}',
        ] {
            assert_eq!(
                scan(&format!("pay{c}ment")),
                vec![Finding::Invisible(c)],
                "{}",
                code(c)
            );
        }
        assert_eq!(
            Finding::Invisible('\u{200B}').describe(),
            "invisible U+200B (zero width space)"
        );
    }

    #[test]
    fn a_word_mixing_latin_and_cyrillic_is_flagged() {
        // The first `а` is Cyrillic (U+0430).
        let found = scan("Log in at p\u{0430}ypal.com today");
        assert_eq!(
            found,
            vec![Finding::MixedScript {
                word: "p\u{0430}ypal".to_owned(),
                scripts: "Latin + Cyrillic".to_owned()
            }]
        );
        let greek = scan("the \u{03BF}fficial site"); // Greek omicron
        assert!(
            matches!(&greek[..], [Finding::MixedScript { scripts, .. }] if scripts == "Latin + Greek")
        );
    }

    #[test]
    fn separate_words_in_different_scripts_are_not_flagged() {
        assert!(scan("Acme Привет Corp").is_empty());
    }

    #[test]
    fn reveal_makes_hidden_characters_visible() {
        assert_eq!(reveal("a\u{202E}b\u{200B}c"), "a⟦U+202E⟧b⟦U+200B⟧c");
        assert_eq!(reveal("plain"), "plain");
    }
}
