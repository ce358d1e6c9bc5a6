//! The terminal while the full-screen view is up: alternate screen, raw mode (so keys do not
//! echo across the view), hidden cursor; and its restoration on every way out — the view's
//! end, a panic (a hook restores before the message is printed), Ctrl-C or `q` (read as keys in
//! raw mode and turned into [`interrupted`], which the coordinator treats as SIGINT), and
//! [`restore`] before a `process::exit`.

use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::Terminal;
use std::io::Stdout;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once, OnceLock};
use std::time::Duration;

/// Whether the terminal is in the view's modes now.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static PANIC_HOOK: Once = Once::new();

fn interrupt() -> &'static tokio::sync::Notify {
    static N: OnceLock<tokio::sync::Notify> = OnceLock::new();
    N.get_or_init(tokio::sync::Notify::new)
}

/// Completes when the person at the view pressed Ctrl-C or `q` (in raw mode the terminal
/// sends no SIGINT; this stands for it).
pub async fn interrupted() {
    interrupt().notified().await;
}

/// Puts the terminal back as it was (idempotent; a no-op when the view is not up).
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = terminal::disable_raw_mode();
        let _ = execute!(
            std::io::stdout(),
            cursor::Show,
            terminal::LeaveAlternateScreen
        );
    }
}

/// The view's terminal; restored when dropped.
pub(crate) struct Screen {
    pub(crate) terminal: Terminal<CrosstermBackend<Stdout>>,
    stop_keys: Arc<AtomicBool>,
    keys: Option<std::thread::JoinHandle<()>>,
}

impl Screen {
    pub(crate) fn enter() -> std::io::Result<Screen> {
        PANIC_HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        });
        terminal::enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        if let Err(e) = execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        ) {
            restore();
            return Err(e);
        }
        let terminal = match Terminal::new(CrosstermBackend::new(std::io::stdout())) {
            Ok(t) => t,
            Err(e) => {
                restore();
                return Err(e);
            }
        };
        let stop_keys = Arc::new(AtomicBool::new(false));
        let stop = stop_keys.clone();
        let keys = std::thread::Builder::new()
            .name("live-keys".into())
            .spawn(move || read_keys(&stop))
            .ok();
        Ok(Screen {
            terminal,
            stop_keys,
            keys,
        })
    }
}

/// Reads keys until `stop`: Ctrl-C and `q` stand for SIGINT.
fn read_keys(stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match event::poll(Duration::from_millis(100)) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) => return,
        }
        let Ok(Event::Key(k)) = event::read() else {
            continue;
        };
        let ctrl_c = k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
        if k.kind == KeyEventKind::Press && (ctrl_c || k.code == KeyCode::Char('q')) {
            interrupt().notify_one();
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        self.stop_keys.store(true, Ordering::SeqCst);
        if let Some(k) = self.keys.take() {
            let _ = k.join();
        }
        restore();
    }
}
