//! Where the local runner listens (`HOST`, `PORT`) and the public address it derives from that.
//! `dev` and `serve` check both and bind the port before they touch anything else, so a bad
//! setting or a busy port is refused with nothing started and nothing changed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tokio::net::TcpListener;

/// The port when `PORT` is not set.
pub const DEFAULT_PORT: u16 = 3000;

/// Reads `HOST` (an IP address or `localhost`; default 127.0.0.1) and `PORT` (0–65535, 0 for any
/// free port; default 3000).
pub fn address(host: Option<&str>, port: Option<&str>) -> Result<SocketAddr, String> {
    let ip = match host.map(str::trim) {
        None | Some("") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some("localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(text) => text.parse().map_err(|_| {
            format!(
                "HOST must be an IP address such as 127.0.0.1, 0.0.0.0 or ::1 (or localhost), \
                 not '{text}'"
            )
        })?,
    };
    let port = match port.map(str::trim) {
        None | Some("") => DEFAULT_PORT,
        Some(text) => text.parse().map_err(|_| {
            format!("PORT must be a whole number from 0 (any free port) to 65535, not '{text}'")
        })?,
    };
    Ok(SocketAddr::new(ip, port))
}

/// The address from the process environment.
pub fn from_env() -> Result<SocketAddr, String> {
    let var = |name| std::env::var(name).ok();
    address(var("HOST").as_deref(), var("PORT").as_deref())
}

/// Binds `address`, or says why not in words an operator can act on.
pub async fn bind(address: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(address).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                "; another program (perhaps another `lightspeedpay dev`) listens there: stop it or \
                 set PORT to a free port"
            }
            std::io::ErrorKind::AddrNotAvailable => "; HOST is not an address of this machine",
            std::io::ErrorKind::PermissionDenied => {
                "; ports below 1024 need privileges: set PORT to 1024 or above"
            }
            _ => "",
        };
        format!(
            "cannot listen on {address} (HOST, PORT): {e}{hint}; nothing was started or changed"
        )
    })
}

/// The base URL clients reach a listener on: its own address, unless it listens on every
/// interface, where no single address is right and `PUBLIC_BASE_URL` must say which.
pub fn base_url(bound: SocketAddr) -> Result<String, String> {
    if bound.ip().is_unspecified() {
        return Err(format!(
            "HOST {} listens on every interface, so the address clients use cannot be derived: \
             set PUBLIC_BASE_URL (e.g. https://pay.example.in) for checkout links and returns",
            bound.ip()
        ));
    }
    Ok(format!("http://{bound}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_are_read_or_refused_by_name() {
        assert_eq!(
            address(None, None).unwrap(),
            "127.0.0.1:3000".parse().unwrap()
        );
        assert_eq!(
            address(Some("localhost"), Some("8080")).unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(
            address(Some("::1"), Some("0")).unwrap(),
            "[::1]:0".parse().unwrap()
        );
        for port in ["abc", "99999", "-1", "80.5"] {
            let e = address(None, Some(port)).unwrap_err();
            assert!(e.starts_with("PORT ") && e.contains(port), "{e}");
        }
        let e = address(Some("my host"), None).unwrap_err();
        assert!(e.starts_with("HOST ") && e.contains("my host"), "{e}");
    }

    #[test]
    fn the_base_url_is_the_bound_address_unless_it_is_every_interface() {
        assert_eq!(
            base_url("127.0.0.1:4100".parse().unwrap()).unwrap(),
            "http://127.0.0.1:4100"
        );
        assert_eq!(
            base_url("[::1]:4100".parse().unwrap()).unwrap(),
            "http://[::1]:4100"
        );
        assert!(
            base_url("0.0.0.0:4100".parse().unwrap())
                .unwrap_err()
                .contains("PUBLIC_BASE_URL")
        );
    }
}
