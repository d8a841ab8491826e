//! `Outbox`: notifications as files — the local stand-in for Slack, SES email and the status
//! page. Each message becomes one JSON file in the outbox directory, written atomically
//! (a hidden temporary file, then a rename), so a reader never sees half a message.
//!
//! File names start with the wall-clock time in nanoseconds, zero-padded and strictly
//! increasing — past every name already in the directory, so a clock that stands still or
//! steps back between processes cannot reorder them — then the process id and a sequence
//! number: `<nanos>-<pid>-<seq>-<channel>.json`. Lexical order is send order, also across
//! processes, and two processes never pick the same name. The virtual clock plays no
//! part: it may stand still or jump, while file names must stay unique and ordered.
//!
//! A file holds the notification as `Notification` serialises it (`channel`, `to`,
//! `text`, and `blocks` for Slack, `subject` and `links` for email, `status` for the
//! status page, and `release_id`), plus `links` (always present, maybe empty) and
//! `sent_at`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use shipgate_core::ports::{BoxError, ContactList, Notification, Notifier, NotifyError, Posted};

/// The services whose calls the outbox records beside the notifications.
pub const RECORD_CHANNELS: [&str; 2] = ["github", "pagerduty"];

/// The last timestamp this process used for a name; names take `max(now, last + 1)`.
static LAST_NANOS: AtomicU64 = AtomicU64::new(0);
static SEQ: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("could not write to the outbox {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not read the outbox {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an outbox message")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// The file outbox (see the module documentation).
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
    /// Whether this outbox looked at the names already in its directory (once: the names
    /// it writes after that only go up within the process).
    scanned: std::sync::OnceLock<()>,
}

/// One message read back from the outbox.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Value")]
pub struct OutboxMessage {
    /// `slack`, `email` or `status_page`.
    pub channel: String,
    /// The Slack channel, the email addresses, or the status page.
    pub to: Vec<String>,
    /// Email only.
    pub subject: Option<String>,
    pub text: String,
    /// Slack only: Block Kit blocks.
    pub blocks: Option<Value>,
    pub links: Vec<String>,
    pub release_id: String,
    /// Status page only.
    pub status: Option<String>,
    /// Wall-clock time of sending.
    pub sent_at: Option<DateTime<Utc>>,
    /// The notification as sent.
    pub message: Notification,
    /// The file's JSON, as written.
    pub raw: Value,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Recipients {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Fields {
    channel: String,
    to: Recipients,
    #[serde(default)]
    subject: Option<String>,
    text: String,
    #[serde(default)]
    blocks: Option<Value>,
    #[serde(default)]
    links: Vec<String>,
    release_id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    sent_at: Option<DateTime<Utc>>,
}

impl TryFrom<Value> for OutboxMessage {
    type Error = serde_json::Error;

    fn try_from(raw: Value) -> Result<Self, Self::Error> {
        let message: Notification = serde_json::from_value(raw.clone())?;
        let fields: Fields = serde_json::from_value(raw.clone())?;
        let to = match fields.to {
            Recipients::One(one) => vec![one],
            Recipients::Many(many) => many,
        };
        Ok(OutboxMessage {
            channel: fields.channel,
            to,
            subject: fields.subject,
            text: fields.text,
            blocks: fields.blocks,
            links: fields.links,
            release_id: fields.release_id,
            status: fields.status,
            sent_at: fields.sent_at,
            message,
            raw,
        })
    }
}

/// A strictly increasing wall-clock timestamp for this process.
fn name_nanos() -> u64 {
    let wall = Utc::now()
        .timestamp_nanos_opt()
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0);
    let mut last = LAST_NANOS.load(Ordering::Relaxed);
    loop {
        let next = wall.max(last.saturating_add(1));
        match LAST_NANOS.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(actual) => last = actual,
        }
    }
}

/// The newest name prefix in `dir` (0 when empty or missing).
fn newest_in(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name();
            let name = name.to_str()?;
            name.get(..20)?.parse::<u64>().ok()
        })
        .max()
        .unwrap_or(0)
}

/// The file name of the next message in `dir`: send order, unique across processes.
fn next_name(dir: &Path, scanned: &std::sync::OnceLock<()>, channel: &str) -> String {
    // Once per outbox, not per message: a directory of thousands of messages is not
    // listed again for every new one.
    scanned.get_or_init(|| {
        LAST_NANOS.fetch_max(newest_in(dir), Ordering::Relaxed);
    });
    format!(
        "{:020}-{:010}-{:08}-{}.json",
        name_nanos(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed),
        channel
    )
}

/// A file-name-safe digest of a message key.
fn key_digest(key: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Outbox {
    /// An outbox writing into `dir` (created on the first message).
    /// Where the users' contact list is kept locally: `contacts.json` beside the outbox.
    pub fn contacts_file(&self) -> PathBuf {
        self.dir.parent().map_or_else(
            || PathBuf::from("contacts.json"),
            |d| d.join("contacts.json"),
        )
    }

    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            scanned: std::sync::OnceLock::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `message` as the next file; returns its path.
    pub fn write(&self, message: &Notification) -> Result<PathBuf, OutboxError> {
        self.write_named(
            &next_name(&self.dir, &self.scanned, message.channel()),
            message,
        )
    }

    /// Writes `message` unless a message with `key` was written before; returns the path
    /// of the one message for `key`. A marker in `<outbox>.sent/` names the file before the
    /// file is written, so a process killed in between completes the very same file on the
    /// next call: each key yields exactly one message, whenever the process dies.
    pub fn write_once(&self, key: &str, message: &Notification) -> Result<PathBuf, OutboxError> {
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OutboxError::Write { path, source }
        };
        let marks = self.marks_dir();
        let marker = marks.join(format!("{}.name", key_digest(key)));
        let name = match fs::read_to_string(&marker) {
            Ok(name) => name,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let name = next_name(&self.dir, &self.scanned, message.channel());
                fs::create_dir_all(&marks).map_err(write_err(&marks))?;
                let tmp = marks.join(format!(
                    ".{}-{}.tmp",
                    std::process::id(),
                    SEQ.fetch_add(1, Ordering::Relaxed)
                ));
                fs::write(&tmp, name.as_bytes()).map_err(write_err(&tmp))?;
                // Linking fails if the marker exists: whoever linked first named the file.
                let linked = fs::hard_link(&tmp, &marker);
                let _ = fs::remove_file(&tmp);
                match linked {
                    Ok(()) => name,
                    Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                        fs::read_to_string(&marker).map_err(write_err(&marker))?
                    }
                    Err(err) => return Err(write_err(&marker)(err)),
                }
            }
            Err(err) => return Err(write_err(&marker)(err)),
        };
        let path = self.dir.join(&name);
        if path.exists() {
            return Ok(path);
        }
        shipgate_crash::point("outbox.named");
        self.write_named(&name, message)
    }

    /// Where `write_once` keeps its markers: beside the outbox, never inside it.
    fn marks_dir(&self) -> PathBuf {
        let mut name = self.dir.file_name().unwrap_or_default().to_os_string();
        name.push(".sent");
        self.dir.with_file_name(name)
    }

    /// Writes a record of a call to another service (`github`, `pagerduty`) as the next
    /// file, `<n>-<channel>.json`, with `sent_at` added; [`Outbox::read_records`] reads
    /// them back, [`Outbox::read_all`] leaves them out.
    pub fn write_record(&self, channel: &str, record: &Value) -> Result<PathBuf, OutboxError> {
        let mut doc = record.clone();
        if let Some(object) = doc.as_object_mut() {
            object.insert("sent_at".into(), Value::String(Utc::now().to_rfc3339()));
        }
        self.write_doc(&next_name(&self.dir, &self.scanned, channel), &doc)
    }

    fn write_named(&self, name: &str, message: &Notification) -> Result<PathBuf, OutboxError> {
        if let Notification::PagerDuty {
            path,
            event,
            text,
            release_id,
        } = message
        {
            // As PagerDuty receives it, the routing key left to the adapter.
            let record = serde_json::json!({
                "channel": "pagerduty",
                "method": "POST",
                "path": path,
                "body": event,
                "text": text,
                "release_id": release_id,
                "sent_at": Utc::now().to_rfc3339(),
            });
            return self.write_doc(name, &record);
        }
        let mut doc = serde_json::to_value(message).map_err(|e| OutboxError::Write {
            path: self.dir.clone(),
            source: std::io::Error::other(e),
        })?;
        if let Some(object) = doc.as_object_mut() {
            object
                .entry("links")
                .or_insert_with(|| Value::Array(Vec::new()));
            object.insert("sent_at".into(), Value::String(Utc::now().to_rfc3339()));
        }
        self.write_doc(name, &doc)
    }

    fn write_doc(&self, name: &str, doc: &Value) -> Result<PathBuf, OutboxError> {
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OutboxError::Write { path, source }
        };
        let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| OutboxError::Write {
            path: self.dir.clone(),
            source: std::io::Error::other(e),
        })?;
        fs::create_dir_all(&self.dir).map_err(write_err(&self.dir))?;
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(
            ".{name}.{}-{}.tmp",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let mut file = fs::File::create(&tmp).map_err(write_err(&tmp))?;
        // The rename keeps readers from ever seeing half a message; no fsync: the outbox
        // records what was sent, while the release's own state lives in the database.
        file.write_all(&bytes).map_err(write_err(&tmp))?;
        drop(file);
        fs::rename(&tmp, &path).map_err(write_err(&path))?;
        Ok(path)
    }

    /// Every record of calls to `channel` (`github`, `pagerduty`) in `dir`, in send order.
    pub fn read_records(dir: &Path, channel: &str) -> Result<Vec<Value>, OutboxError> {
        let suffix = format!("-{channel}.json");
        let mut records = Vec::new();
        for name in Self::names(dir)? {
            if name.ends_with(&suffix) {
                let path = dir.join(&name);
                let text = fs::read(&path).map_err(|source| OutboxError::Read {
                    path: path.clone(),
                    source,
                })?;
                records.push(
                    serde_json::from_slice(&text)
                        .map_err(|source| OutboxError::Parse { path, source })?,
                );
            }
        }
        Ok(records)
    }

    /// The message files in `dir`, sorted (send order).
    fn names(dir: &Path) -> Result<Vec<String>, OutboxError> {
        let read_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OutboxError::Read { path, source }
        };
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(read_err(dir)(err)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let name = entry.map_err(read_err(dir))?.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(".json") && !name.starts_with('.') {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Every message in `dir`, in send order (records of calls to other services left
    /// out). A missing directory holds no messages.
    pub fn read_all(dir: &Path) -> Result<Vec<OutboxMessage>, OutboxError> {
        let read_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OutboxError::Read { path, source }
        };
        let names: Vec<String> = Self::names(dir)?
            .into_iter()
            .filter(|n| {
                !RECORD_CHANNELS
                    .iter()
                    .any(|c| n.ends_with(&format!("-{c}.json")))
            })
            .collect();
        let mut messages = Vec::with_capacity(names.len());
        for name in names {
            let path = dir.join(&name);
            let text = fs::read(&path).map_err(read_err(&path))?;
            let message = serde_json::from_slice(&text)
                .map_err(|source| OutboxError::Parse { path, source })?;
            messages.push(message);
        }
        Ok(messages)
    }
}

#[async_trait]
impl Notifier for Outbox {
    async fn send(&self, message: &Notification) -> Result<(), NotifyError> {
        self.write(message).map_err(|e| NotifyError::Delivery {
            channel: message.channel(),
            source: Box::new(e),
        })?;
        Ok(())
    }

    async fn send_once(
        &self,
        key: &str,
        message: &Notification,
    ) -> Result<Option<Posted>, NotifyError> {
        let path = self
            .write_once(key, message)
            .map_err(|e| NotifyError::Delivery {
                channel: message.channel(),
                source: Box::new(e),
            })?;
        // A Slack post's `ts` is its file's send-order prefix: unique and stable.
        Ok(match message {
            Notification::Slack { to, .. } => path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.get(..20))
                .map(|ts| Posted {
                    channel: to.clone(),
                    ts: ts.to_string(),
                }),
            _ => None,
        })
    }

    /// The users' contact list kept beside the outbox, in `<data-dir>/contacts.json`
    /// (`topic_default_opt_in`, `contacts`: `email`, `name`, `unsubscribe_all`,
    /// `subscribed`); no file, no users. One file holds one list and one topic.
    async fn contacts(&self, _list: &str, _topic: &str) -> Result<ContactList, NotifyError> {
        let path = self.contacts_file();
        let failed = |source: BoxError| NotifyError::Delivery {
            channel: "user_email",
            source,
        };
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| failed(Box::new(e))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(ContactList::default()),
            Err(err) => Err(failed(Box::new(err))),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn slack(text: &str) -> Notification {
        Notification::Slack {
            to: "#releases".into(),
            text: text.into(),
            blocks: json!([{ "type": "section", "text": { "type": "mrkdwn", "text": text } }]),
            release_id: "api-1.3.0-c0ffee1".into(),
        }
    }

    fn email() -> Notification {
        Notification::Email {
            to: vec!["cto@example.com".into(), "ceo@example.com".into()],
            subject: "Approve api 1.3.0".into(),
            text: "Please approve".into(),
            links: vec!["http://127.0.0.1:8080/approve/abc".into()],
            release_id: "api-1.3.0-c0ffee1".into(),
        }
    }

    fn status_page() -> Notification {
        Notification::StatusPage {
            to: "https://status.roleferry.com".into(),
            status: "maintenance".into(),
            text: "Scheduled maintenance".into(),
            release_id: "api-1.3.0-c0ffee1".into(),
        }
    }

    #[tokio::test]
    async fn given_messages_when_sent_then_they_read_back_in_send_order_with_their_fields() {
        let dir = tempfile::tempdir().unwrap();
        let outbox_dir = dir.path().join("outbox");
        let outbox = Outbox::new(&outbox_dir);
        let sent = vec![slack("first"), email(), status_page(), slack("last")];
        for message in &sent {
            outbox.send(message).await.unwrap();
        }
        let read = Outbox::read_all(&outbox_dir).unwrap();
        assert_eq!(
            read.iter().map(|m| m.message.clone()).collect::<Vec<_>>(),
            sent
        );

        let s = &read[0];
        assert_eq!(
            (s.channel.as_str(), s.to.clone(), s.text.as_str()),
            ("slack", vec!["#releases".to_string()], "first")
        );
        assert!(s.blocks.as_ref().is_some_and(Value::is_array));
        assert!(s.links.is_empty() && s.subject.is_none() && s.status.is_none());
        assert_eq!(s.raw["links"], json!([]));
        assert!(s.sent_at.is_some());

        let e = &read[1];
        assert_eq!(e.channel, "email");
        assert_eq!(e.to, vec!["cto@example.com", "ceo@example.com"]);
        assert_eq!(e.subject.as_deref(), Some("Approve api 1.3.0"));
        assert_eq!(e.links, vec!["http://127.0.0.1:8080/approve/abc"]);
        assert_eq!(e.release_id, "api-1.3.0-c0ffee1");

        let p = &read[2];
        assert_eq!(
            (p.channel.as_str(), p.status.as_deref()),
            ("status_page", Some("maintenance"))
        );
    }

    #[tokio::test]
    async fn given_many_quick_sends_when_listed_then_names_are_unique_ordered_and_no_temp_files_remain()
     {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path());
        for i in 0..50 {
            outbox
                .send(&slack(&format!("message {i:02}")))
                .await
                .unwrap();
        }
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 50);
        assert!(
            names
                .iter()
                .all(|n| n.ends_with("-slack.json") && !n.starts_with('.'))
        );
        names.sort();
        let texts: Vec<String> = Outbox::read_all(dir.path())
            .unwrap()
            .into_iter()
            .map(|m| m.text)
            .collect();
        let expected: Vec<String> = (0..50).map(|i| format!("message {i:02}")).collect();
        assert_eq!(texts, expected);
    }

    #[test]
    fn given_a_missing_directory_when_read_then_no_messages() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            Outbox::read_all(&dir.path().join("nothing-yet"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn given_a_foreign_json_file_when_read_then_the_error_names_it() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("zzz.json"), "{\"hello\": 1}").unwrap();
        fs::write(dir.path().join(".half-written.json.tmp"), "{").unwrap();
        let err = Outbox::read_all(dir.path()).unwrap_err();
        assert!(
            matches!(err, OutboxError::Parse { ref path, .. } if path.ends_with("zzz.json")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn given_an_unwritable_outbox_when_sent_then_delivery_fails_with_the_cause() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, "not a directory").unwrap();
        let err = Outbox::new(blocker.join("outbox"))
            .send(&email())
            .await
            .unwrap_err();
        let NotifyError::Delivery { channel, .. } = &err;
        assert_eq!(*channel, "email");
        assert!(std::error::Error::source(&err).is_some());
    }

    #[tokio::test]
    async fn given_a_keyed_message_when_resent_then_written_once_and_a_half_done_one_completed() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path().join("outbox"));
        outbox
            .send_once("r1/asked/lee/0", &slack("one"))
            .await
            .unwrap();
        outbox
            .send_once("r1/asked/lee/0", &slack("one"))
            .await
            .unwrap();
        outbox
            .send_once("r1/asked/lee/1", &slack("two"))
            .await
            .unwrap();
        let texts: Vec<String> = Outbox::read_all(outbox.dir())
            .unwrap()
            .into_iter()
            .map(|m| m.text)
            .collect();
        assert_eq!(texts, ["one", "two"]);

        // Killed after naming the file, before writing it: the next call writes that file.
        let path = outbox.write_once("r1/outcome", &email()).unwrap();
        fs::remove_file(&path).unwrap();
        let again = outbox.write_once("r1/outcome", &email()).unwrap();
        assert_eq!(again, path);
        assert_eq!(Outbox::read_all(outbox.dir()).unwrap().len(), 3);
        // The markers live beside the outbox, never among its messages.
        assert!(dir.path().join("outbox.sent").is_dir());
    }
}
