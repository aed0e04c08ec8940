//! Delegated sign-in in the system browser: the authorization code flow with PKCE (S256) and a
//! loopback redirect URI (`v2-oauth2-auth-code-flow.md`), as the Azure CLI, Microsoft Graph
//! PowerShell and MSAL's interactive sign-in do by default. For the administrator's sign-in to
//! Graph (`--auth browser`) and `provision token --browser`'s sign-in as the provisioned app.
//!
//! 1. A cached refresh token is redeemed first ([`device::cached`]: one cache for both flows);
//!    one refused for missing consent (AADSTS65001) leads to the browser, where consent is given.
//! 2. A one-shot listener on `127.0.0.1` (and `[::1]`) on a free port; the redirect URI is
//!    `http://localhost:<port>` (Entra ignores the port of a loopback redirect URI, so the app
//!    registers `http://localhost` once).
//! 3. The browser is opened on the authorize URL: `$BROWSER` (a `:`-separated list of commands,
//!    `%s` standing for the URL, as Python's `webbrowser` reads it) else the platform's opener.
//!    The URL is printed too, for when no browser opens.
//! 4. The redirect is checked (`state` must be the one sent), the browser gets a short page, and
//!    the code is redeemed with the PKCE verifier; the refresh token is cached (mode 0600).
//! 5. Nothing within the timeout (5 minutes, `PROVISION_BROWSER_TIMEOUT_SECS`) ends the wait
//!    with an error saying what to check.

use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope,
    TokenResponse, TokenUrl,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::device::{self, Delegated, Request, endpoint, remember, scopes_with_offline_access};
use super::entra::{Failure, Refusal, codes};
use crate::error::Error;

/// How long the listener waits for the browser by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The loopback redirect URI an app needs for browser sign-in (any port is accepted).
pub const LOOPBACK_REDIRECT_URI: &str = "http://localhost";

/// The wait for the browser: `PROVISION_BROWSER_TIMEOUT_SECS`, else five minutes.
pub fn timeout() -> Duration {
    std::env::var("PROVISION_BROWSER_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT)
}

/// Whether a browser can probably be opened here: `$BROWSER` names one, or a desktop session
/// is running (Linux: `DISPLAY` or `WAYLAND_DISPLAY`; macOS and Windows always).
pub fn available() -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    set("BROWSER") || cfg!(any(target_os = "macos", windows)) || set("DISPLAY") || set("WAYLAND_DISPLAY")
}

/// Whether a redirect URI is a loopback one Entra matches on any port.
pub fn is_loopback_redirect(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| {
        u.scheme() == "http"
            && u.port().is_none()
            && matches!(u.path(), "" | "/")
            && match u.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            }
    })
}

/// Sign in: the cached refresh token if there is one, else the browser (when `r.prompt`).
pub async fn acquire(r: &Request<'_>, wait: Duration) -> Result<Delegated, Failure> {
    match device::cached(r).await {
        Ok(Some(token)) => return Ok(token),
        Ok(None) => {}
        // Consent was withdrawn since the sign-in was cached (AADSTS65001): the browser's
        // consent page is where it is given again, as MSAL falls back to interactive sign-in.
        Err(Failure::Refused(refusal)) if refusal.is(codes::CONSENT_REQUIRED) && r.prompt => {
            r.printer.verbose(&format!(
                "sign-in: the cached sign-in lacks consent ({refusal}); signing in through the browser"
            ));
        }
        Err(e) => return Err(e),
    }
    if !r.prompt {
        return Err(Failure::Transport(
            Error::auth("signing in through the browser needs a terminal, and no cached sign-in was found")
                .with_help("run the command in a terminal once, or choose another --auth"),
        ));
    }
    let transport = |what: &str| {
        let what = what.to_owned();
        move |e: std::io::Error| Failure::Transport(Error::auth(what).with_source(e))
    };
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(transport(
        "cannot listen on a loopback port for the browser's answer",
    ))?;
    let port = listener
        .local_addr()
        .map_err(transport("cannot read the loopback port"))?
        .port();
    // Browsers may resolve `localhost` to ::1 first; listen there too when the system has it.
    let listener6 = TcpListener::bind(("::1", port)).await.ok();
    let redirect_uri = format!("{LOOPBACK_REDIRECT_URI}:{port}");

    let bad_url =
        |e: url::ParseError| Failure::Transport(Error::failure("invalid sign-in endpoint").with_source(e));
    let client = BasicClient::new(ClientId::new(r.client_id.to_owned()))
        .set_auth_type(AuthType::RequestBody)
        .set_auth_uri(AuthUrl::new(endpoint(r.authority_url, r.tenant, "authorize")).map_err(bad_url)?)
        .set_token_uri(TokenUrl::new(endpoint(r.authority_url, r.tenant, "token")).map_err(bad_url)?)
        .set_redirect_uri(RedirectUrl::new(redirect_uri.clone()).map_err(bad_url)?);
    let scopes = scopes_with_offline_access(&r.scopes);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge)
        .url();

    let opened = open_browser(url.as_str());
    match &opened {
        Ok(how) => r.printer.status(&format!(
            "Sign in in the browser ({how} opened it); if no page appeared, open: {url}"
        )),
        Err(why) => r.printer.status(&format!(
            "Could not open a browser ({why}). To sign in, open: {url}"
        )),
    }
    r.printer
        .verbose(&format!("sign-in: waiting for the browser at {redirect_uri}"));

    let answer = tokio::time::timeout(wait, receive(&listener, listener6.as_ref(), state.secret()))
        .await
        .map_err(|_| Failure::Transport(timed_out(r, wait)))??;
    let code = match answer {
        Answer::Code(code) => code,
        Answer::Error { error, description } => {
            return Err(Failure::Refused(Refusal::new(&error, description.as_deref())));
        }
    };
    let response = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .add_extra_param("scope", scopes.join(" "))
        .request_async(&crate::trace::OAuthHttp(r.http))
        .await
        .map_err(Failure::from_oauth)?;
    let access = response.access_token().secret().to_owned();
    if let (Some(cache), Some(refresh)) = (r.cache, response.refresh_token()) {
        remember(r, cache, &access, refresh.secret().to_owned());
    }
    Ok(Delegated {
        access_token: access,
        how: "browser",
    })
}

fn timed_out(r: &Request<'_>, wait: Duration) -> Error {
    let secs = wait.as_secs();
    let (n, unit) = if secs < 60 {
        (secs, "second")
    } else {
        (secs.div_ceil(60), "minute")
    };
    Error::auth(format!(
        "the browser sign-in did not come back within {n} {unit}{}",
        if n == 1 { "" } else { "s" }
    ))
    .with_help(format!(
        "finish the sign-in in the browser in time; if the page showed AADSTS50011, add the redirect URI \
         `{LOOPBACK_REDIRECT_URI}` to client `{}` (Mobile and desktop applications); without a browser, \
         use --auth device-code",
        r.client_id
    ))
}

/// What the browser brought back.
enum Answer {
    Code(String),
    Error {
        error: String,
        description: Option<String>,
    },
}

/// Serves the loopback listener(s) until a request to `/` carries `code` or `error`. Other
/// requests (a favicon) get a 404 and the wait goes on. A wrong `state` ends the sign-in: the
/// answer is not the one this sign-in asked for.
async fn receive(v4: &TcpListener, v6: Option<&TcpListener>, state: &str) -> Result<Answer, Failure> {
    loop {
        let accepted = match v6 {
            Some(v6) => tokio::select! {
                a = v4.accept() => a,
                a = v6.accept() => a,
            },
            None => v4.accept().await,
        };
        let Ok((stream, _)) = accepted else { continue };
        if let Some(result) = answer(stream, state).await {
            return result;
        }
    }
}

/// One request on the listener: `None` when it was not the redirect.
async fn answer(mut stream: TcpStream, state: &str) -> Option<Result<Answer, Failure>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    // The request line and headers; the redirect is a GET without a body.
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let target = text
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or_default();
    let url = url::Url::parse(&format!("http://localhost{target}")).ok()?;
    let get = |k: &str| {
        url.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    if url.path() != "/" || (get("code").is_none() && get("error").is_none()) {
        let _ = respond(&mut stream, "404 Not Found", "Not found.").await;
        return None;
    }
    if get("state").as_deref() != Some(state) {
        let _ = respond(
            &mut stream,
            "400 Bad Request",
            "This sign-in answer does not belong to the sign-in provision started. Return to the terminal.",
        )
        .await;
        return Some(Err(Failure::Transport(
            Error::auth(
                "the browser's answer carried another `state` than the sign-in sent, so it was refused",
            )
            .with_help("run the command again; an answer with the wrong state is a stale or forged redirect"),
        )));
    }
    let result = match (get("code"), get("error")) {
        (Some(code), None) => {
            let _ = respond(
                &mut stream,
                "200 OK",
                "Signed in. You can close this window and return to provision.",
            )
            .await;
            Answer::Code(code)
        }
        (_, error) => {
            let error = error.unwrap_or_default();
            let description = get("error_description");
            let first = description
                .as_deref()
                .and_then(|d| d.lines().next())
                .unwrap_or(error.as_str())
                .to_owned();
            let _ = respond(
                &mut stream,
                "200 OK",
                &format!("The sign-in did not complete: {first}. Return to provision for what to do."),
            )
            .await;
            Answer::Error { error, description }
        }
    };
    Some(Ok(result))
}

async fn respond(stream: &mut TcpStream, status: &str, text: &str) -> std::io::Result<()> {
    let body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>provision</title></head>\
         <body><p>{}</p></body></html>",
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    );
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// Opens `url` in a browser without waiting for it to close: each `$BROWSER` command in turn,
/// else the platform's opener. `Ok` names the command that started.
fn open_browser(url: &str) -> Result<String, String> {
    let mut commands: Vec<Vec<String>> = Vec::new();
    if let Ok(list) = std::env::var("BROWSER") {
        for cmd in list.split(':').map(str::trim).filter(|c| !c.is_empty()) {
            let mut words: Vec<String> = cmd.split_whitespace().map(str::to_owned).collect();
            if words.iter().any(|w| w.contains("%s")) {
                for w in &mut words {
                    *w = w.replace("%s", url);
                }
            } else {
                words.push(url.to_owned());
            }
            commands.push(words);
        }
    }
    if commands.is_empty() {
        let opener: &[&str] = if cfg!(target_os = "macos") {
            &["open"]
        } else if cfg!(windows) {
            &["rundll32", "url.dll,FileProtocolHandler"]
        } else {
            &["xdg-open"]
        };
        let mut words: Vec<String> = opener.iter().map(|s| (*s).to_owned()).collect();
        words.push(url.to_owned());
        commands.push(words);
    }
    let mut last = String::from("no browser command");
    for words in commands {
        let Some((program, args)) = words.split_first() else {
            continue;
        };
        match tokio::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
        {
            Ok(mut child) => {
                // Reap it whenever it exits; the sign-in does not wait for the browser.
                tokio::spawn(async move {
                    let _ = child.wait().await;
                });
                return Ok(format!("`{program}`"));
            }
            Err(e) => last = format!("`{program}`: {e}"),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirect_uris_are_recognised() {
        assert!(is_loopback_redirect("http://localhost"));
        assert!(is_loopback_redirect("http://localhost/"));
        assert!(is_loopback_redirect("http://127.0.0.1"));
        assert!(
            !is_loopback_redirect("http://localhost:8400"),
            "a fixed port does not take any port"
        );
        assert!(!is_loopback_redirect("http://localhost/callback"));
        assert!(!is_loopback_redirect("https://localhost"));
        assert!(!is_loopback_redirect("https://portal.azure.com"));
    }

    #[tokio::test]
    async fn the_listener_checks_state_and_ignores_other_requests() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let send = |path: &'static str| async move {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let waiting = tokio::spawn(async move { receive(&listener, None, "s1").await });
        assert!(send("/favicon.ico").await.starts_with("HTTP/1.1 404"));
        assert!(send("/?code=c&state=forged").await.starts_with("HTTP/1.1 400"));
        match waiting.await.unwrap() {
            Err(Failure::Transport(e)) => assert!(e.message.contains("state"), "{}", e.message),
            _ => panic!("a wrong state must end the sign-in"),
        }

        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let waiting = tokio::spawn(async move { receive(&listener, None, "s2").await });
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(
            b"GET /?error=access_denied&error_description=AADSTS65004%3A+User+declined.&error_subcode=cancel&state=s2 HTTP/1.1\r\n\r\n",
        )
        .await
        .unwrap();
        match waiting.await.unwrap() {
            Ok(Answer::Error { error, description }) => {
                assert_eq!(error, "access_denied");
                assert_eq!(Refusal::new(&error, description.as_deref()).aadsts, Some(65004));
            }
            _ => panic!("the error must come back"),
        }
    }
}
