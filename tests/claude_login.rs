//! A subscriber's login still refreshes with the `claude` CLI confined: the CLI, signed in with an
//! expired access token, refreshes it at Anthropic's token endpoint (here a TLS server of the
//! test's own on loopback, behind a CONNECT proxy the CLI is pointed at with `HTTPS_PROXY`, its
//! certificate trusted through `NODE_EXTRA_CA_CERTS`), runs its session, and the refreshed login
//! lands in the operator's `~/.claude/.credentials.json`, where the next session and the operator's
//! own `claude` find it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton::agent::{EndReason, Limits};
use baton::project::config::Config;

/// A certificate authority of the test's, and a server certificate it signed for Anthropic's
/// hosts: (the authority's PEM, the server's chain and key).
fn certificates() -> (String, Vec<rustls::pki_types::CertificateDer<'static>>, rustls::pki_types::PrivateKeyDer<'static>)
{
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
    ca.distinguished_name.push(rcgen::DnType::CommonName, "baton test authority");
    let ca = rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
    let hosts = ["platform.claude.com", "api.anthropic.com", "console.anthropic.com", "claude.ai"];
    let params = rcgen::CertificateParams::new(hosts.map(String::from).to_vec()).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    (ca.pem(), vec![cert.der().clone(), ca.der().clone()], key)
}

/// What the endpoint was asked: (request line, body).
type Asked = Arc<Mutex<Vec<(String, String)>>>;

/// Anthropic's OAuth endpoint as the test plays it: a refresh gets a new access and refresh token;
/// anything else (the profile the CLI reads after) a 404. Returns its port.
fn token_endpoint(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
    asked: Asked,
) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (config, asked) = (config.clone(), asked.clone());
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let mut reader = BufReader::new(&mut tls);
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                    if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; length];
                let _ = reader.read_exact(&mut body);
                let body = String::from_utf8_lossy(&body).into_owned();
                let refresh = line.starts_with("POST /v1/oauth/token");
                asked.lock().unwrap().push((line.trim().to_owned(), body));
                let answer = if refresh {
                    let json = r#"{"access_token":"fresh-access-token","refresh_token":"fresh-refresh-token","expires_in":28800,"scope":"user:inference user:profile","token_type":"Bearer"}"#;
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{json}",
                        json.len()
                    )
                } else {
                    "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
                };
                let _ = tls.write_all(answer.as_bytes());
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    port
}

/// An HTTP proxy that takes every CONNECT to the endpoint at `port`; the hosts asked for are
/// noted. Returns its port.
fn proxy(port: u16, hosts: Arc<Mutex<Vec<String>>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let own = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let hosts = hosts.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap_or(0);
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                }
                hosts.lock().unwrap().push(line.split_whitespace().nth(1).unwrap_or("").to_owned());
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", port)) else { return };
                let mut client = client;
                let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                let mut upstream = upstream;
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut u2);
                    let _ = u2.shutdown(std::net::Shutdown::Write);
                });
                let _ = std::io::copy(&mut upstream, &mut client);
            });
        }
    });
    own
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribers_login_still_refreshes_inside_the_sandbox() {
    let dir = common::temp_repo();
    std::fs::create_dir_all(dir.path().join(".baton")).unwrap();
    // In /tmp, which a session does not see: the certificates the CLI is told to trust are left
    // readable to it.
    let files = tempfile::Builder::new().prefix("authority-").tempdir_in("/tmp").unwrap();
    let ca_path = files.path().join("authority.pem");
    let (authority, chain, key) = certificates();
    std::fs::write(&ca_path, authority).unwrap();
    let asked: Asked = Arc::default();
    let hosts = Arc::new(Mutex::new(Vec::new()));
    let endpoint = token_endpoint(chain, key, asked.clone());
    let proxy = proxy(endpoint, hosts.clone());
    let home = tempfile::tempdir().unwrap();
    let credentials = home.path().join(".claude/.credentials.json");
    std::fs::create_dir_all(credentials.parent().unwrap()).unwrap();
    let expired = r#"{"claudeAiOauth":{"accessToken":"stale-access-token","refreshToken":"first-refresh-token","expiresAt":1000,"scopes":["user:inference","user:profile"],"subscriptionType":"max"}}"#;
    std::fs::write(&credentials, expired).unwrap();
    let scenario = r#"
name = "subscriber"
[[turns]]
id = "work"
start = "Build"
tools = [{ name = "bash", input = { command = "echo working" } }]
[[turns]]
id = "end"
text = "Done."
"#;
    let config = Config::default();
    let backend = |url: &str| {
        baton::agent::claude_code::ClaudeCodeBackend::new(common::claude_bin(), &config)
            .unwrap()
            .with_baton(PathBuf::from(env!("CARGO_BIN_EXE_baton")))
            .with_env([
                ("ANTHROPIC_BASE_URL".to_owned(), url.to_owned()),
                ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".to_owned(), "1".to_owned()),
                ("HOME".to_owned(), home.path().display().to_string()),
                ("HTTPS_PROXY".to_owned(), format!("http://127.0.0.1:{proxy}")),
                ("NO_PROXY".to_owned(), "127.0.0.1,localhost".to_owned()),
                ("NODE_EXTRA_CA_CERTS".to_owned(), ca_path.display().to_string()),
            ])
    };
    let limits = Limits { max_turns: 10, wall_time: Duration::from_secs(120) };
    let ran = common::session_of(backend, dir.path(), "Build.", scenario, limits, |_| {}).await;
    let asked = asked.lock().unwrap().clone();
    assert_eq!(ran.end.reason, EndReason::Completed, "{asked:?} {:#?}", ran.events);
    let refresh = asked.iter().find(|(line, _)| line.starts_with("POST /v1/oauth/token"));
    assert!(
        refresh.is_some_and(|(_, body)| body.contains("first-refresh-token")),
        "the CLI refreshed its login: {asked:?} through {:?}",
        hosts.lock().unwrap()
    );
    let now = std::fs::read_to_string(&credentials).unwrap();
    assert!(now.contains("fresh-access-token") && now.contains("fresh-refresh-token"), "{now}");
    assert!(common::tool_results(&ran.events).iter().any(|(o, _)| o.contains("working")));
}
