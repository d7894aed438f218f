//! Which LwM2M operation a CoAP request is, told from its method, path and options alone (the
//! mapping of LwM2M 1.0 §8): the client engine serves by it, the server answers registrations
//! by it, and traces name what a datagram carries with it.

use crate::content::Path;
use nbmodem_coap::{Method, Request};

/// An operation of the registration or the device management interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    /// POST /rd.
    Register,
    /// POST /rd/{location}.
    Update,
    /// DELETE /rd/{location}.
    Deregister,
    /// GET with Accept: application/link-format.
    Discover,
    /// GET with Observe 0.
    Observe,
    /// GET with Observe 1: a read that ends the observation.
    CancelObserve,
    /// Any other GET.
    Read,
    /// PUT with a query and no payload.
    WriteAttributes,
    /// PUT, or POST on an object or an instance.
    Write,
    /// POST on a resource.
    Execute,
    /// DELETE of an object path.
    Delete,
}

/// Content-Format of application/link-format.
const LINK_FORMAT: u16 = 40;

impl OperationKind {
    /// The operation `request` is; `None` for a request to a path that is neither `/rd…` nor an
    /// object path (a self-registration's `/nb`, a firmware download's `/fota/…`).
    pub fn of(request: &Request) -> Option<OperationKind> {
        let segments: Vec<&str> = request.path.iter().map(String::as_str).collect();
        match (request.method, segments.as_slice()) {
            (Method::Post, ["rd"]) => return Some(Self::Register),
            (Method::Post, ["rd", _]) => return Some(Self::Update),
            (Method::Delete, ["rd", _]) => return Some(Self::Deregister),
            _ => {}
        }
        let path: Path = request.path_text().parse().ok()?;
        Some(match request.method {
            Method::Get if request.accept == Some(LINK_FORMAT) => Self::Discover,
            Method::Get if request.observe == Some(0) => Self::Observe,
            Method::Get if request.observe == Some(1) => Self::CancelObserve,
            Method::Get => Self::Read,
            Method::Put if request.payload.is_empty() && !request.query.is_empty() => {
                Self::WriteAttributes
            }
            Method::Put => Self::Write,
            Method::Post if path.resource().is_none() => Self::Write,
            Method::Post => Self::Execute,
            Method::Delete => Self::Delete,
            _ => return None,
        })
    }

    /// The operation's name as LwM2M 1.0 writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Register => "Register",
            Self::Update => "Update",
            Self::Deregister => "De-register",
            Self::Discover => "Discover",
            Self::Observe => "Observe",
            Self::CancelObserve => "Cancel Observation",
            Self::Read => "Read",
            Self::WriteAttributes => "Write-Attributes",
            Self::Write => "Write",
            Self::Execute => "Execute",
            Self::Delete => "Delete",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(request: Request) -> Option<&'static str> {
        OperationKind::of(&request).map(OperationKind::name)
    }

    #[test]
    fn each_request_is_named() {
        let get = |path| Request::get(path);
        let mut discover = get("/3");
        discover.accept = Some(40);
        for (request, name) in [
            (Request::new(Method::Post, "/rd"), Some("Register")),
            (Request::new(Method::Post, "/rd/7"), Some("Update")),
            (Request::new(Method::Delete, "/rd/7"), Some("De-register")),
            (discover, Some("Discover")),
            (get("/19/0/0").with_observe(0), Some("Observe")),
            (get("/19/0/0").with_observe(1), Some("Cancel Observation")),
            (get("/3/0/0"), Some("Read")),
            (
                Request::new(Method::Put, "/3/0/13").with_query("pmin=10"),
                Some("Write-Attributes"),
            ),
            (
                Request::new(Method::Put, "/19/1/0").with_payload(42, vec![0xaa]),
                Some("Write"),
            ),
            (Request::new(Method::Post, "/3/0"), Some("Write")),
            (Request::new(Method::Post, "/5/0/2"), Some("Execute")),
            (Request::new(Method::Delete, "/3/1"), Some("Delete")),
            (Request::new(Method::Post, "/nb"), None),
            (get("/fota/package"), None),
        ] {
            assert_eq!(kind(request.clone()), name, "{request:?}");
        }
    }
}
