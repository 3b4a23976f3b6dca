//! The journal that makes the in-process bus survive a restart: every message a queue takes
//! is appended to a file, every settlement that removes one is appended too, and on open the
//! messages still unsettled are replayed into their queues (delivered again, as RabbitMQ
//! redelivers what was unacked when a node restarts). The file is compacted on open.
//!
//! Lines are flushed to the operating system as they are written, so a crashed or killed
//! process loses nothing; a power cut can lose the last moments, as SQLite in standalone's
//! `synchronous = NORMAL` can.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Message;

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Line {
    /// `queue` took message `seq`.
    Put {
        queue: String,
        seq: u64,
        id: String,
        routing_key: String,
        headers: BTreeMap<String, String>,
        body: String,
    },
    /// Message `seq` left `queue` for good (acked, or moved to the dead letters).
    Done { queue: String, seq: u64 },
}

/// A message that was in a queue when the process stopped.
pub(super) struct Replayed {
    pub queue: String,
    pub seq: u64,
    pub message: Message,
}

pub(super) struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Opens (or creates) the journal at `path`, answering what is still queued, oldest first.
    pub fn open(path: &Path) -> std::io::Result<(Self, Vec<Replayed>)> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut live: HashMap<(String, u64), Message> = HashMap::new();
        if path.exists() {
            for (n, line) in BufReader::new(File::open(path)?).lines().enumerate() {
                let line = line?;
                match serde_json::from_str::<Line>(&line) {
                    Ok(Line::Put {
                        queue,
                        seq,
                        id,
                        routing_key,
                        headers,
                        body,
                    }) => {
                        let Ok(body) = hex::decode(&body) else {
                            tracing::warn!(line = n + 1, "bus journal: unreadable body skipped");
                            continue;
                        };
                        live.insert(
                            (queue, seq),
                            Message {
                                id,
                                routing_key,
                                body,
                                headers,
                            },
                        );
                    }
                    Ok(Line::Done { queue, seq }) => {
                        live.remove(&(queue, seq));
                    }
                    // A line cut short by a crash mid-write is the only way to get here.
                    Err(_) => tracing::warn!(line = n + 1, "bus journal: torn line skipped"),
                }
            }
        }
        let mut replayed: Vec<Replayed> = live
            .into_iter()
            .map(|((queue, seq), message)| Replayed {
                queue,
                seq,
                message,
            })
            .collect();
        replayed.sort_by_key(|r| r.seq);

        // Compact: write the live messages to a new file and swap it in.
        let compacted = path.with_extension("compacting");
        {
            let mut out = File::create(&compacted)?;
            for r in &replayed {
                writeln!(out, "{}", put_line(&r.queue, r.seq, &r.message))?;
            }
            out.sync_all()?;
        }
        std::fs::rename(&compacted, path)?;
        let file = OpenOptions::new().append(true).open(path)?;
        Ok((
            Self {
                path: path.to_path_buf(),
                file,
            },
            replayed,
        ))
    }

    pub fn put(&mut self, queue: &str, seq: u64, message: &Message) -> std::io::Result<()> {
        writeln!(self.file, "{}", put_line(queue, seq, message))?;
        self.file.flush()
    }

    /// Records that `seq` left `queue`; a failure is logged, and at worst the message is
    /// delivered once more after a restart, which the consumer's inbox absorbs.
    pub fn done(&mut self, queue: &str, seq: u64) {
        let line = Line::Done {
            queue: queue.to_string(),
            seq,
        };
        let written = serde_json::to_string(&line)
            .map_err(std::io::Error::other)
            .and_then(|l| writeln!(self.file, "{l}"))
            .and_then(|_| self.file.flush());
        if let Err(e) = written {
            tracing::warn!(path = %self.path.display(), error = %e, "bus journal: settlement not recorded");
        }
    }
}

fn put_line(queue: &str, seq: u64, message: &Message) -> String {
    let line = Line::Put {
        queue: queue.to_string(),
        seq,
        id: message.id.clone(),
        routing_key: message.routing_key.clone(),
        headers: message.headers.clone(),
        body: hex::encode(&message.body),
    };
    serde_json::to_string(&line).unwrap_or_default()
}
