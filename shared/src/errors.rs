//! An error and its causes as one line, each cause said once.
//!
//! Many errors put their source's text in their own message *and* return it from `source()`, so
//! printing the whole chain (`{:#}` of anyhow) says the same thing two or three times ("No such
//! file or directory (os error 2): No such file or directory (os error 2)"). [`chain`] joins the
//! messages with `": "` and leaves out a cause whose text the line already holds.

use std::error::Error;

/// `err` and its causes, outermost first, each message said once.
///
/// ```
/// use std::io;
/// #[derive(Debug)]
/// struct Open(io::Error);
/// impl std::fmt::Display for Open {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "cannot open wms.db: {}", self.0)
///     }
/// }
/// impl std::error::Error for Open {
///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> { Some(&self.0) }
/// }
/// let e = Open(io::Error::new(io::ErrorKind::NotFound, "no such file"));
/// assert_eq!(xt_shared::errors::chain(&e), "cannot open wms.db: no such file");
/// ```
pub fn chain(err: &(dyn Error + 'static)) -> String {
    let mut all = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        all.push(e);
        next = e.source();
    }
    causes(all)
}

/// The messages of `errors` (an error chain, outermost first, e.g. anyhow's `Error::chain`)
/// joined with `": "`, leaving out each one the line already holds.
pub fn causes<'a>(errors: impl IntoIterator<Item = &'a (dyn Error + 'static)>) -> String {
    let mut line = String::new();
    for e in errors {
        let text = e.to_string();
        let text = text.trim();
        if text.is_empty() || line.contains(text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    #[derive(Debug)]
    struct Layer {
        text: &'static str,
        source: Option<Box<Layer>>,
    }

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.text)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.source.as_deref().map(|l| l as &(dyn Error + 'static))
        }
    }

    fn layers(texts: &[&'static str]) -> Layer {
        let mut it = texts.iter().rev();
        let mut layer = Layer {
            text: it.next().unwrap(),
            source: None,
        };
        for text in it {
            layer = Layer {
                text,
                source: Some(Box::new(layer)),
            };
        }
        layer
    }

    #[test]
    fn each_cause_is_said_once() {
        // (chain outermost first, the line)
        let cases: &[(&[&str], &str)] = &[
            (&["a", "b", "c"], "a: b: c"),
            (
                &[
                    "cannot read ca.crt.pem: No such file (os error 2)",
                    "No such file (os error 2)",
                ],
                "cannot read ca.crt.pem: No such file (os error 2)",
            ),
            (
                &[
                    "opening wms.db: unable to open database file",
                    "unable to open database file",
                    "unable to open database file",
                ],
                "opening wms.db: unable to open database file",
            ),
            (&["outer", "", "inner"], "outer: inner"),
            (&["only"], "only"),
        ];
        for (texts, line) in cases {
            assert_eq!(chain(&layers(texts)), *line, "{texts:?}");
        }
    }
}
