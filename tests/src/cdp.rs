//! A small Chrome DevTools Protocol client over tokio-tungstenite: enough
//! to open a page in headless Chromium, evaluate JavaScript in it and take
//! a screenshot. Chromium is Debian's (`/usr/bin/chromium`), started with
//! the flags this machine needs (no network access beyond loopback).

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The Chromium binary: `$CHROMIUM` or the first of chromium /
/// chromium-browser / google-chrome on PATH.
pub fn chromium_path() -> Option<String> {
    if let Ok(p) = std::env::var("CHROMIUM") {
        return Some(p);
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.exists())
                    .map(|p| p.to_string_lossy().into_owned())
            })
        })
}

/// Collects the page's CSP violations into `window.__cspViolations`.
const CSP_LISTENER: &str = "window.__cspViolations = []; \
    document.addEventListener('securitypolicyviolation', e => \
      window.__cspViolations.push(e.effectiveDirective + ' blocked ' + (e.blockedURI || 'inline') \
        + ' at ' + e.sourceFile + ':' + e.lineNumber));";

/// A headless Chromium with one page attached.
#[derive(Debug)]
pub struct Browser {
    child: Child,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Launch Chromium and open `url` in a page of `width`×`height`.
    pub async fn launch(url: &str, width: u32, height: u32) -> Result<Self> {
        let bin = chromium_path()
            .context("Chromium not found: install the Debian package `chromium` or set CHROMIUM")?;
        let profile = tempfile::tempdir()?;
        let mut child = Command::new(&bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
            ])
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {bin}"))?;
        let stderr = child.stderr.take().context("no stderr")?;
        let endpoint = tokio::task::spawn_blocking(move || -> Result<String> {
            let mut lines = BufReader::new(stderr).lines();
            for line in lines.by_ref() {
                let line = line?;
                if let Some(i) = line.find("ws://") {
                    let url = line[i..].trim().to_owned();
                    std::thread::spawn(move || for _ in lines {});
                    return Ok(url);
                }
            }
            bail!("Chromium exited without a DevTools endpoint")
        });
        let endpoint = tokio::time::timeout(Duration::from_secs(30), endpoint)
            .await
            .context("Chromium did not start within 30 s")???;
        let (ws, _) = tokio_tungstenite::connect_async(&endpoint)
            .await
            .context("DevTools websocket")?;
        let mut b = Browser {
            child,
            ws,
            session: String::new(),
            next_id: 0,
            _profile: profile,
        };
        let target = b
            .call(
                "Target.createTarget",
                json!({ "url": "about:blank" }),
                false,
            )
            .await?;
        let target_id = target["targetId"]
            .as_str()
            .context("no targetId")?
            .to_owned();
        let attached = b
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target_id, "flatten": true }),
                false,
            )
            .await?;
        b.session = attached["sessionId"]
            .as_str()
            .context("no sessionId")?
            .to_owned();
        b.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
            true,
        )
        .await?;
        b.call("Page.enable", json!({}), true).await?;
        // Installed before any of the page's own scripts run, so that a
        // violation while the page boots is caught too.
        b.call(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": CSP_LISTENER }),
            true,
        )
        .await?;
        b.call("Page.navigate", json!({ "url": url }), true).await?;
        Ok(b)
    }

    /// Every Content-Security-Policy violation the page reported since it
    /// loaded (`securitypolicyviolation` events): directive and blocked URI.
    pub async fn csp_violations(&mut self) -> Result<Vec<String>> {
        let v = self
            .eval("JSON.stringify(window.__cspViolations || null)")
            .await?;
        let list: Option<Vec<String>> = serde_json::from_str(v.as_str().unwrap_or("null"))?;
        list.context("the CSP listener is not installed in the page")
    }

    async fn call(&mut self, method: &str, params: Value, in_page: bool) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if in_page {
            msg["sessionId"] = json!(self.session);
        }
        self.ws.send(Message::Text(msg.to_string().into())).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .with_context(|| format!("{method}: no answer within 30 s"))?;
            let Some(frame) = next else {
                bail!("DevTools connection closed during {method}")
            };
            let Message::Text(text) = frame? else {
                continue;
            };
            let v: Value = serde_json::from_str(&text)?;
            if v["id"] != json!(id) {
                continue;
            }
            if let Some(err) = v.get("error") {
                bail!("{method}: {err}");
            }
            return Ok(v["result"].clone());
        }
    }

    /// Evaluate a JavaScript expression in the page and return its value.
    pub async fn eval(&mut self, expression: &str) -> Result<Value> {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true }),
                true,
            )
            .await?;
        if let Some(ex) = r.get("exceptionDetails") {
            bail!("{expression}: {ex}");
        }
        Ok(r["result"]["value"].clone())
    }

    /// The text of the first element matching `selector`, if any.
    pub async fn text(&mut self, selector: &str) -> Result<Option<String>> {
        let expr = format!(
            "(() => {{ const e = document.querySelector({}); return e ? e.textContent : null; }})()",
            serde_json::to_string(selector)?
        );
        Ok(self.eval(&expr).await?.as_str().map(str::to_owned))
    }

    /// Poll `selector`'s text until `pred` holds, up to `timeout`.
    pub async fn wait_text(
        &mut self,
        selector: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last = None;
        while tokio::time::Instant::now() < deadline {
            if let Some(t) = self.text(selector).await? {
                if pred(&t) {
                    return Ok(t);
                }
                last = Some(t);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{selector}: condition not met within {timeout:?}; last text {last:?}")
    }

    /// A PNG screenshot of the page.
    pub async fn screenshot(&mut self) -> Result<Vec<u8>> {
        let r = self
            .call("Page.captureScreenshot", json!({ "format": "png" }), true)
            .await?;
        let data = r["data"].as_str().context("no screenshot data")?;
        Ok(base64::engine::general_purpose::STANDARD.decode(data)?)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
