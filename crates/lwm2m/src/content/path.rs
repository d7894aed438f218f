//! LwM2M paths `/object[/instance[/resource[/resource-instance]]]`.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// The largest id a path may hold: 65535 (`MAX_ID`) is reserved by LwM2M.
const MAX_ID: u16 = 65534;

/// A path to an object, object instance, resource or resource instance.
///
/// Holds one to four ids, each at most 65534. Ordered by object, then instance, and so on, with a
/// shorter path before its extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path {
    // Unused trailing ids are zero, so the derived comparisons only see the used ones.
    ids: [u16; 4],
    depth: u8,
}

/// Why text or ids do not form a [`Path`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PathError {
    /// No text, or no ids.
    #[error("empty path")]
    Empty,
    /// Text that does not start with `/`.
    #[error("path does not start with '/'")]
    NoLeadingSlash,
    /// Two slashes in a row, or a trailing slash.
    #[error("path has an empty segment")]
    EmptySegment,
    /// A segment that is not plain decimal digits.
    #[error("path segment {0:?} is not a decimal number")]
    NotANumber(String),
    /// An id above 65534 (65535 is reserved).
    #[error("path id {0} is above 65534")]
    IdOutOfRange(u64),
    /// More than four ids.
    #[error("path has more than four ids")]
    TooDeep,
}

impl Path {
    /// A path from its ids, outermost first: `&[3, 0, 1]` is `/3/0/1`.
    pub fn new(ids: &[u16]) -> Result<Self, PathError> {
        if ids.is_empty() {
            return Err(PathError::Empty);
        }
        let mut path = Path {
            ids: [0; 4],
            depth: 0,
        };
        for &id in ids {
            path = path.child(id)?;
        }
        Ok(path)
    }

    /// This path extended by one id.
    pub fn child(self, id: u16) -> Result<Self, PathError> {
        if id > MAX_ID {
            return Err(PathError::IdOutOfRange(id.into()));
        }
        let mut child = self;
        let slot = child
            .ids
            .get_mut(usize::from(self.depth))
            .ok_or(PathError::TooDeep)?;
        *slot = id;
        child.depth += 1;
        Ok(child)
    }

    /// The ids, outermost first (one to four of them).
    pub fn ids(&self) -> &[u16] {
        &self.ids[..usize::from(self.depth)]
    }

    /// The object id.
    pub fn object(&self) -> u16 {
        self.ids[0]
    }

    /// The object instance id, if the path goes that deep.
    pub fn instance(&self) -> Option<u16> {
        self.ids().get(1).copied()
    }

    /// The resource id, if the path goes that deep.
    pub fn resource(&self) -> Option<u16> {
        self.ids().get(2).copied()
    }

    /// The resource instance id, if the path goes that deep.
    pub fn resource_instance(&self) -> Option<u16> {
        self.ids().get(3).copied()
    }
}

impl FromStr for Path {
    type Err = PathError;

    fn from_str(text: &str) -> Result<Self, PathError> {
        if text.is_empty() {
            return Err(PathError::Empty);
        }
        let rest = text.strip_prefix('/').ok_or(PathError::NoLeadingSlash)?;
        let mut ids = Vec::new();
        for segment in rest.split('/') {
            if ids.len() == 4 {
                return Err(PathError::TooDeep);
            }
            ids.push(parse_id(segment)?);
        }
        Path::new(&ids)
    }
}

/// Parses one segment: decimal digits, at most 65534.
fn parse_id(segment: &str) -> Result<u16, PathError> {
    if segment.is_empty() {
        return Err(PathError::EmptySegment);
    }
    if !segment.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(PathError::NotANumber(segment.to_owned()));
    }
    // Only digits, so parsing fails on overflow alone: report such ids as out of range.
    let id: u64 = segment.parse().unwrap_or(u64::MAX);
    match u16::try_from(id) {
        Ok(id) if id <= MAX_ID => Ok(id),
        _ => Err(PathError::IdOutOfRange(id)),
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for id in self.ids() {
            write!(f, "/{id}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Path, PathError> {
        text.parse()
    }

    #[test]
    fn paths_of_every_depth_parse_and_display() {
        for text in [
            "/3",
            "/3/0",
            "/3/0/6",
            "/3/0/6/1",
            "/65534/65534/65534/65534",
            "/0/0",
        ] {
            assert_eq!(
                parse(text).map(|path| path.to_string()),
                Ok(text.to_owned())
            );
        }
    }

    #[test]
    fn accessors_follow_the_depth() {
        let path = parse("/3/0/6/1").unwrap();
        assert_eq!(path.ids(), &[3, 0, 6, 1]);
        assert_eq!(
            (
                path.object(),
                path.instance(),
                path.resource(),
                path.resource_instance()
            ),
            (3, Some(0), Some(6), Some(1))
        );
        let path = parse("/19").unwrap();
        assert_eq!(path.ids(), &[19]);
        assert_eq!(
            (path.instance(), path.resource(), path.resource_instance()),
            (None, None, None)
        );
    }

    #[test]
    fn leading_zeros_are_accepted() {
        assert_eq!(parse("/03/00"), Path::new(&[3, 0]));
    }

    #[test]
    fn malformed_paths_are_refused() {
        let cases = [
            ("", PathError::Empty),
            ("/", PathError::EmptySegment),
            ("3/0", PathError::NoLeadingSlash),
            ("//3", PathError::EmptySegment),
            ("/3/", PathError::EmptySegment),
            ("/3//0", PathError::EmptySegment),
            ("/3/x", PathError::NotANumber("x".into())),
            ("/+3", PathError::NotANumber("+3".into())),
            ("/-1", PathError::NotANumber("-1".into())),
            ("/3 ", PathError::NotANumber("3 ".into())),
            ("/65535", PathError::IdOutOfRange(65535)),
            ("/3/70000", PathError::IdOutOfRange(70000)),
            (
                "/99999999999999999999999",
                PathError::IdOutOfRange(u64::MAX),
            ),
            ("/1/2/3/4/5", PathError::TooDeep),
        ];
        for (text, error) in cases {
            assert_eq!(parse(text), Err(error), "{text:?}");
        }
    }

    #[test]
    fn ids_are_checked_when_built() {
        assert_eq!(Path::new(&[]), Err(PathError::Empty));
        assert_eq!(Path::new(&[3, 65535]), Err(PathError::IdOutOfRange(65535)));
        assert_eq!(Path::new(&[1, 2, 3, 4, 5]), Err(PathError::TooDeep));
        assert_eq!(Path::new(&[3]).unwrap().child(0), Path::new(&[3, 0]));
    }

    #[test]
    fn shorter_paths_sort_first() {
        let mut paths = [
            parse("/3/0/1").unwrap(),
            parse("/3/0").unwrap(),
            parse("/1").unwrap(),
        ];
        paths.sort();
        let texts: Vec<String> = paths.iter().map(Path::to_string).collect();
        assert_eq!(texts, ["/1", "/3/0", "/3/0/1"]);
    }
}
