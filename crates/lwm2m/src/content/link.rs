//! The CoRE link format (content format 40, RFC 6690) as LwM2M uses it: the object list of a
//! Register or Update payload and the answer to a Discover.
//!
//! ```text
//! </>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>        a registration
//! </3/0>;pmin=10,</3/0/1>,</3/0/2>;dim=2           a Discover answer
//! ```
//!
//! [`parse`] accepts white space around the `,` and `;` separators, as some peers send it;
//! [`serialize`] writes none. Quoted values may hold `,`, `;` and `\`-escaped quotes.

use thiserror::Error;

use super::{Path, PathError};

/// The resource type that marks the LwM2M root, possibly at an alternate path such as `/lwm2m`.
const LWM2M_ROOT_TYPE: &str = "oma.lwm2m";

/// One link: a target between `<` and `>`, then its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The URI reference, such as `/3/0`.
    pub target: String,
    /// The attributes, in payload order.
    pub attributes: Vec<Attribute>,
}

/// A link attribute: `name`, `name=token` or `name="quoted"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute name, such as `pmin`.
    pub name: String,
    /// The value, if there is one.
    pub value: Option<AttributeValue>,
}

/// An attribute value, remembering whether it was quoted so that it is written back the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    /// A bare token such as `11543`.
    Token(String),
    /// A quoted string, held without its quotes and escapes.
    Quoted(String),
}

/// Why bytes are not a link-format payload, or links cannot be written or read as LwM2M objects.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LinkError {
    /// The payload is not UTF-8.
    #[error("link-format payload is not UTF-8")]
    Utf8,
    /// Unexpected input at byte `offset`.
    #[error("link format: expected {expected} at byte {offset}")]
    Syntax {
        /// Where the problem is.
        offset: usize,
        /// What was expected there.
        expected: &'static str,
    },
    /// A target that is empty or holds `<`, `>`, white space or control characters.
    #[error("invalid link target {0:?}")]
    InvalidTarget(String),
    /// An attribute name with characters RFC 5988 does not allow.
    #[error("invalid attribute name {0:?}")]
    InvalidName(String),
    /// A bare attribute value with characters RFC 5988 does not allow unquoted.
    #[error("invalid bare attribute value {0:?}")]
    InvalidToken(String),
    /// A registration link that is not `/object` or `/object/instance` under the LwM2M root.
    #[error("registration link {0:?} is not an object or object instance")]
    NotAnObject(String),
}

impl AttributeValue {
    /// The value text, without quotes or escapes.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Token(text) | Self::Quoted(text) => text,
        }
    }
}

impl Link {
    /// The value of the first attribute called `name`; `None` if there is none or it has no value.
    pub fn value(&self, name: &str) -> Option<&str> {
        let attribute = self
            .attributes
            .iter()
            .find(|attribute| attribute.name == name)?;
        attribute.value.as_ref().map(AttributeValue::as_str)
    }

    /// The target as an LwM2M path (for Discover answers, whose targets are paths).
    pub fn path(&self) -> Result<Path, PathError> {
        self.target.parse()
    }
}

/// Parses a link-format payload. An empty payload (or only white space) holds no links.
pub fn parse(bytes: &[u8]) -> Result<Vec<Link>, LinkError> {
    let text = std::str::from_utf8(bytes).map_err(|_| LinkError::Utf8)?;
    Parser { text, pos: 0 }.links()
}

/// Writes links as a link-format payload, with no white space and values quoted as they were.
pub fn serialize(links: &[Link]) -> Result<String, LinkError> {
    let mut out = String::new();
    for (index, link) in links.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        write_link(&mut out, link)?;
    }
    Ok(out)
}

/// The `(object, instance)` pairs a registration payload advertises, in payload order; an object
/// listed without instances (`</5>`) gives `(5, None)`.
///
/// The root `</>` and the entry marked `rt="oma.lwm2m"` are skipped. When that entry names an
/// alternate path such as `</lwm2m>`, object links are read relative to it (`</lwm2m/3/0>`). Any
/// other link is an error.
pub fn registered_objects(links: &[Link]) -> Result<Vec<(u16, Option<u16>)>, LinkError> {
    let root = lwm2m_root(links);
    links
        .iter()
        .filter(|link| !is_root(&link.target, root))
        .map(|link| object_of(&link.target, root))
        .collect()
}

/// The LwM2M root path without a trailing slash: empty unless an alternate path is declared.
fn lwm2m_root(links: &[Link]) -> &str {
    links
        .iter()
        .find(|link| {
            // `rt` may list several types separated by spaces.
            let types = link.value("rt").unwrap_or_default();
            types
                .split_ascii_whitespace()
                .any(|ty| ty == LWM2M_ROOT_TYPE)
        })
        .map_or("", |link| link.target.trim_end_matches('/'))
}

fn is_root(target: &str, root: &str) -> bool {
    target == "/" || target.trim_end_matches('/') == root
}

fn object_of(target: &str, root: &str) -> Result<(u16, Option<u16>), LinkError> {
    let not_an_object = || LinkError::NotAnObject(target.to_owned());
    let relative = target.strip_prefix(root).ok_or_else(not_an_object)?;
    let path: Path = relative.parse().map_err(|_| not_an_object())?;
    match path.resource() {
        None => Ok((path.object(), path.instance())),
        Some(_) => Err(not_an_object()),
    }
}

fn write_link(out: &mut String, link: &Link) -> Result<(), LinkError> {
    if link.target.is_empty() || !link.target.chars().all(is_target_char) {
        return Err(LinkError::InvalidTarget(link.target.clone()));
    }
    out.push('<');
    out.push_str(&link.target);
    out.push('>');
    link.attributes
        .iter()
        .try_for_each(|attribute| write_attribute(out, attribute))
}

fn write_attribute(out: &mut String, attribute: &Attribute) -> Result<(), LinkError> {
    if attribute.name.is_empty() || !attribute.name.chars().all(is_name_char) {
        return Err(LinkError::InvalidName(attribute.name.clone()));
    }
    out.push(';');
    out.push_str(&attribute.name);
    match &attribute.value {
        None => {}
        Some(AttributeValue::Token(token)) => {
            if token.is_empty() || !token.chars().all(is_token_char) {
                return Err(LinkError::InvalidToken(token.clone()));
            }
            out.push('=');
            out.push_str(token);
        }
        Some(AttributeValue::Quoted(text)) => {
            out.push_str("=\"");
            for char in text.chars() {
                if matches!(char, '"' | '\\') {
                    out.push('\\');
                }
                out.push(char);
            }
            out.push('"');
        }
    }
    Ok(())
}

/// What a target may hold: anything but the delimiters, white space and control characters.
fn is_target_char(char: char) -> bool {
    !matches!(char, '<' | '>') && !char.is_whitespace() && !char.is_control()
}

/// `attr-char` of RFC 5987, plus `*` for the `name*` form of RFC 5988.
fn is_name_char(char: char) -> bool {
    char.is_ascii_alphanumeric() || "!#$&+-.^_`|~*".contains(char)
}

/// `ptokenchar` of RFC 5988.
fn is_token_char(char: char) -> bool {
    char.is_ascii_alphanumeric() || "!#$%&'()*+-./:<=>?@[]^_`{|}~".contains(char)
}

fn is_space(char: char) -> bool {
    matches!(char, ' ' | '\t' | '\r' | '\n')
}

/// A recursive-descent reader over the payload text; `pos` is a byte offset.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn links(&mut self) -> Result<Vec<Link>, LinkError> {
        let mut links = Vec::new();
        self.skip_space();
        if self.peek().is_none() {
            return Ok(links);
        }
        loop {
            links.push(self.link()?);
            self.skip_space();
            if self.peek().is_none() {
                return Ok(links);
            }
            self.expect(b',', "',' between links")?;
            self.skip_space();
        }
    }

    fn link(&mut self) -> Result<Link, LinkError> {
        self.expect(b'<', "'<' opening a link")?;
        let target = self.take_while(is_target_char);
        if target.is_empty() {
            return Err(self.syntax("a link target"));
        }
        self.expect(b'>', "'>' closing the link target")?;
        let mut attributes = Vec::new();
        loop {
            self.skip_space();
            if self.peek() != Some(b';') {
                return Ok(Link {
                    target: target.to_owned(),
                    attributes,
                });
            }
            self.pos += 1;
            self.skip_space();
            attributes.push(self.attribute()?);
        }
    }

    fn attribute(&mut self) -> Result<Attribute, LinkError> {
        let name = self.take_while(is_name_char);
        if name.is_empty() {
            return Err(self.syntax("an attribute name"));
        }
        let value = if self.peek() == Some(b'=') {
            self.pos += 1;
            Some(self.value()?)
        } else {
            None
        };
        Ok(Attribute {
            name: name.to_owned(),
            value,
        })
    }

    fn value(&mut self) -> Result<AttributeValue, LinkError> {
        if self.peek() == Some(b'"') {
            return self.quoted().map(AttributeValue::Quoted);
        }
        let token = self.take_while(is_token_char);
        if token.is_empty() {
            return Err(self.syntax("an attribute value"));
        }
        Ok(AttributeValue::Token(token.to_owned()))
    }

    /// A quoted string from its opening quote; `\` makes the next character literal.
    fn quoted(&mut self) -> Result<String, LinkError> {
        let open = self.pos;
        let mut value = String::new();
        let mut chars = self.text.get(open + 1..).unwrap_or_default().char_indices();
        while let Some((index, char)) = chars.next() {
            match char {
                '"' => {
                    self.pos = open + 1 + index + 1;
                    return Ok(value);
                }
                '\\' => match chars.next() {
                    Some((_, escaped)) => value.push(escaped),
                    None => break,
                },
                other => value.push(other),
            }
        }
        Err(LinkError::Syntax {
            offset: open,
            expected: "a closing '\"' for this quote",
        })
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        self.take_while(is_space);
    }

    fn expect(&mut self, byte: u8, expected: &'static str) -> Result<(), LinkError> {
        if self.peek() != Some(byte) {
            return Err(self.syntax(expected));
        }
        self.pos += 1;
        Ok(())
    }

    /// Consumes characters while `accept` holds, and returns them.
    fn take_while(&mut self, accept: impl Fn(char) -> bool) -> &'a str {
        let rest = self.text.get(self.pos..).unwrap_or_default();
        let len: usize = rest
            .chars()
            .take_while(|&char| accept(char))
            .map(char::len_utf8)
            .sum();
        self.pos += len;
        rest.get(..len).unwrap_or_default()
    }

    fn syntax(&self, expected: &'static str) -> LinkError {
        LinkError::Syntax {
            offset: self.pos,
            expected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(target: &str, attributes: &[(&str, Option<AttributeValue>)]) -> Link {
        Link {
            target: target.to_owned(),
            attributes: attributes
                .iter()
                .map(|(name, value)| Attribute {
                    name: (*name).to_owned(),
                    value: value.clone(),
                })
                .collect(),
        }
    }

    fn token(text: &str) -> Option<AttributeValue> {
        Some(AttributeValue::Token(text.to_owned()))
    }

    fn quoted(text: &str) -> Option<AttributeValue> {
        Some(AttributeValue::Quoted(text.to_owned()))
    }

    const REGISTRATION: &str = r#"</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>,</19/0>,</19/1>"#;
    const DISCOVER: &str = "</3/0>;pmin=10,</3/0/1>,</3/0/2>;dim=2";

    #[test]
    fn a_registration_payload_parses_and_serializes_back() {
        let links = parse(REGISTRATION.as_bytes()).unwrap();
        let expected = [
            link("/", &[("rt", quoted("oma.lwm2m")), ("ct", token("11543"))]),
            link("/1/0", &[]),
            link("/3/0", &[]),
            link("/19/0", &[]),
            link("/19/1", &[]),
        ];
        assert_eq!(links, expected);
        assert_eq!(serialize(&links).unwrap(), REGISTRATION);
        assert_eq!(links[0].value("rt"), Some("oma.lwm2m"));
        assert_eq!(links[0].value("ct"), Some("11543"));
        assert_eq!(links[0].value("ver"), None);
    }

    #[test]
    fn a_discover_answer_parses_and_serializes_back() {
        let links = parse(DISCOVER.as_bytes()).unwrap();
        let expected = [
            link("/3/0", &[("pmin", token("10"))]),
            link("/3/0/1", &[]),
            link("/3/0/2", &[("dim", token("2"))]),
        ];
        assert_eq!(links, expected);
        assert_eq!(serialize(&links).unwrap(), DISCOVER);
        let paths: Vec<String> = links
            .iter()
            .map(|link| link.path().unwrap().to_string())
            .collect();
        assert_eq!(paths, ["/3/0", "/3/0/1", "/3/0/2"]);
    }

    #[test]
    fn quoted_values_hold_separators_and_escapes() {
        let text = r#"</a>;title="one, two; \"three\" \\";obs,</b>"#;
        let links = parse(text.as_bytes()).unwrap();
        let expected = [
            link(
                "/a",
                &[("title", quoted(r#"one, two; "three" \"#)), ("obs", None)],
            ),
            link("/b", &[]),
        ];
        assert_eq!(links, expected);
        assert_eq!(serialize(&links).unwrap(), text);
        assert_eq!(links[0].value("obs"), None);
    }

    #[test]
    fn white_space_between_entries_is_accepted() {
        let text = " </1/0> ,\r\n\t</3/0> ; ver=1.0 ;obs , </5>\n";
        let expected = [
            link("/1/0", &[]),
            link("/3/0", &[("ver", token("1.0")), ("obs", None)]),
            link("/5", &[]),
        ];
        assert_eq!(parse(text.as_bytes()).unwrap(), expected);
    }

    #[test]
    fn empty_payloads_hold_no_links() {
        assert_eq!(parse(b""), Ok(vec![]));
        assert_eq!(parse(b" \r\n"), Ok(vec![]));
        assert_eq!(serialize(&[]), Ok(String::new()));
    }

    #[test]
    fn malformed_payloads_are_refused() {
        let cases = [
            ("/1/0", 0, "'<' opening a link"),
            ("<>", 1, "a link target"),
            ("</1/0", 5, "'>' closing the link target"),
            ("</1 0>", 3, "'>' closing the link target"),
            ("</1/0>,", 7, "'<' opening a link"),
            ("</1/0></3/0>", 6, "',' between links"),
            ("</1/0>;", 7, "an attribute name"),
            ("</1/0>;=5", 7, "an attribute name"),
            ("</1/0>;pmin=", 12, "an attribute value"),
            ("</1/0>;pmin=,</2>", 12, "an attribute value"),
            ("</1/0>;pmin=1 0", 14, "',' between links"),
            ("</1/0>;rt=\"oma", 10, "a closing '\"' for this quote"),
            ("</1/0>;rt=\"oma\\\"", 10, "a closing '\"' for this quote"),
        ];
        for (text, offset, expected) in cases {
            assert_eq!(
                parse(text.as_bytes()),
                Err(LinkError::Syntax { offset, expected }),
                "{text:?}"
            );
        }
        assert_eq!(parse(b"</\xFF>"), Err(LinkError::Utf8));
    }

    #[test]
    fn unwritable_links_are_refused() {
        let cases = [
            (link("", &[]), LinkError::InvalidTarget(String::new())),
            (link("/a>b", &[]), LinkError::InvalidTarget("/a>b".into())),
            (link("/a b", &[]), LinkError::InvalidTarget("/a b".into())),
            (
                link("/a", &[("", None)]),
                LinkError::InvalidName(String::new()),
            ),
            (
                link("/a", &[("p=", None)]),
                LinkError::InvalidName("p=".into()),
            ),
            (
                link("/a", &[("p", token(""))]),
                LinkError::InvalidToken(String::new()),
            ),
            (
                link("/a", &[("p", token("a,b"))]),
                LinkError::InvalidToken("a,b".into()),
            ),
        ];
        for (link, error) in cases {
            assert_eq!(serialize(&[link]), Err(error));
        }
    }

    #[test]
    fn a_registration_lists_its_instances() {
        let links = parse(REGISTRATION.as_bytes()).unwrap();
        let expected = [(1, Some(0)), (3, Some(0)), (19, Some(0)), (19, Some(1))];
        assert_eq!(registered_objects(&links), Ok(expected.to_vec()));
    }

    #[test]
    fn objects_without_instances_are_listed_too() {
        let links = parse(b"</1/0>,</5>;ver=1.1").unwrap();
        assert_eq!(
            registered_objects(&links),
            Ok(vec![(1, Some(0)), (5, None)])
        );
    }

    #[test]
    fn an_alternate_root_prefixes_the_objects() {
        let text = r#"</lwm2m>;rt="oma.lwm2m",</lwm2m/1/0>,</lwm2m/3/0>,</lwm2m/5>"#;
        let links = parse(text.as_bytes()).unwrap();
        assert_eq!(
            registered_objects(&links),
            Ok(vec![(1, Some(0)), (3, Some(0)), (5, None)])
        );
        // `rt` may list several types, and the root may carry a trailing slash.
        let text = r#"</lwm2m/>;rt="core.rd oma.lwm2m",</lwm2m/3/0>"#;
        let links = parse(text.as_bytes()).unwrap();
        assert_eq!(registered_objects(&links), Ok(vec![(3, Some(0))]));
    }

    #[test]
    fn other_registration_links_are_refused() {
        for (text, target) in [
            ("</3/0/1>", "/3/0/1"),
            ("</3/x>", "/3/x"),
            ("</65535/0>", "/65535/0"),
            (r#"</lwm2m>;rt="oma.lwm2m",</3/0>"#, "/3/0"),
            (r#"</lwm2m>;rt="oma.lwm2m",</lwm2m3/0>"#, "/lwm2m3/0"),
        ] {
            let links = parse(text.as_bytes()).unwrap();
            assert_eq!(
                registered_objects(&links),
                Err(LinkError::NotAnObject(target.into()))
            );
        }
    }
}
