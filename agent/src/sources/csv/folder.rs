//! The drop folder's file operations, none of which follows a symbolic link.
//!
//! Whoever can write to the drop folder must not be able to make the agent read or write a
//! file elsewhere: a `*.csv` symlink to `/etc/shadow`, a `done/` symlink to `/etc`, a planted
//! `quarantine/.x.rejected.csv.tmp` symlink. So every operation works relative to a directory
//! handle (`openat`, `renameat` …) opened with `O_NOFOLLOW`: a name is looked up once, in that
//! directory, and a symlink there is never followed. Files are read only when they are regular
//! files, temp files are created with `O_EXCL` (create-new), and a move never replaces what is
//! already at its target (`RENAME_NOREPLACE`, or a hard link then an unlink where the file
//! system lacks it).

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Most `.1`, `.2` … suffixes tried when moving a file next to earlier ones of the same name.
pub const MOVE_SUFFIXES_MAX: u32 = 10_000;

/// Why a name in the folder is not a regular file the agent may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotRegular {
    /// A symbolic link, with where it points.
    Symlink { target: String },
    /// A directory, FIFO, socket or device.
    Other { kind: &'static str },
}

impl std::fmt::Display for NotRegular {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotRegular::Symlink { target } => {
                write!(f, "is a symbolic link (to {target:?}), not a regular file")
            }
            NotRegular::Other { kind } => write!(f, "is a {kind}, not a regular file"),
        }
    }
}

/// Why a sub-folder (`done/`, `quarantine/`) cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SubdirError {
    #[error(
        "{path} is a symbolic link: the agent moves and writes files only in a real sub-folder of the drop folder (replace the link with a directory)"
    )]
    Symlink { path: PathBuf },
    #[error("{path} is not a directory")]
    NotDirectory { path: PathBuf },
    #[error("cannot open {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// An open directory: the drop folder or one of its sub-folders.
pub struct Folder {
    fd: OwnedFd,
    path: PathBuf,
}

fn kind_name(file_type: FileType) -> &'static str {
    match file_type {
        FileType::Directory => "directory",
        FileType::Fifo => "fifo",
        FileType::Socket => "socket",
        FileType::CharacterDevice | FileType::BlockDevice => "device",
        FileType::Symlink => "symbolic link",
        _ => "special file",
    }
}

impl Folder {
    /// Opens the configured drop folder itself (the configured path is trusted, links and all).
    pub fn open(path: &Path) -> io::Result<Folder> {
        let fd = rustix::fs::openat(
            CWD,
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Folder {
            fd,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sub-folder `name`, made if missing; refused when it is a symbolic link or not a
    /// directory.
    pub fn subdir(&self, name: &str) -> Result<Folder, SubdirError> {
        let path = self.path.join(name);
        match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o777)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => {
                return Err(SubdirError::Io {
                    path,
                    source: e.into(),
                });
            }
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => Ok(Folder { fd, path }),
            Err(Errno::LOOP) => Err(SubdirError::Symlink { path }),
            Err(Errno::NOTDIR) => match self.not_regular(name) {
                Some(NotRegular::Symlink { .. }) => Err(SubdirError::Symlink { path }),
                _ => Err(SubdirError::NotDirectory { path }),
            },
            Err(e) => Err(SubdirError::Io {
                path,
                source: e.into(),
            }),
        }
    }

    /// What `name` is when it is not a regular file (`None`: a regular file, or nothing there).
    fn not_regular(&self, name: &str) -> Option<NotRegular> {
        let stat = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => None,
            FileType::Symlink => Some(NotRegular::Symlink {
                target: rustix::fs::readlinkat(&self.fd, name, Vec::new())
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| "?".into()),
            }),
            other => Some(NotRegular::Other {
                kind: kind_name(other),
            }),
        }
    }

    /// Whether anything (file, link, folder) is named `name` here, without following it.
    pub fn contains(&self, name: &str) -> bool {
        rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW).is_ok()
    }

    /// Opens `name` for reading if it is a regular file; says what it is otherwise. Never
    /// follows a symlink, never blocks on a FIFO.
    pub fn open_regular(&self, name: &str) -> io::Result<Result<File, NotRegular>> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::LOOP) => {
                return Ok(Err(self
                    .not_regular(name)
                    .unwrap_or(NotRegular::Symlink { target: "?".into() })));
            }
            Err(e) => return Err(e.into()),
        };
        let file_type = FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode);
        if file_type != FileType::RegularFile {
            return Ok(Err(NotRegular::Other {
                kind: kind_name(file_type),
            }));
        }
        // Reads of a regular file never block; clear the flag anyway so the handle is ordinary.
        rustix::fs::fcntl_setfl(&fd, OFlags::empty())?;
        Ok(Ok(File::from(fd)))
    }

    /// Creates `name` for writing; fails if anything (even a dangling link) is there already.
    pub fn create_new(&self, name: &str) -> io::Result<File> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW;
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            flags | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o666),
        )?;
        Ok(File::from(fd))
    }

    /// Opens the existing regular file `name` for writing (never through a link, never
    /// creating it).
    pub fn open_write(&self, name: &str) -> io::Result<File> {
        let flags = OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, name, flags, Mode::empty())?;
        if FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode) != FileType::RegularFile {
            return Err(io::Error::other(format!(
                "{} is not a regular file",
                self.path.join(name).display()
            )));
        }
        rustix::fs::fcntl_setfl(&fd, OFlags::empty())?;
        Ok(File::from(fd))
    }

    /// Makes the folder's entries (files created, renamed, removed) durable.
    pub fn sync(&self) -> io::Result<()> {
        Ok(rustix::fs::fsync(&self.fd)?)
    }

    /// Removes `name` (a link itself, never its target); nothing there is fine.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Renames `from` to `to` inside this folder, replacing the entry `to` (a link there is
    /// replaced, not written through).
    pub fn replace(&self, from: &str, to: &str) -> io::Result<()> {
        Ok(rustix::fs::renameat(&self.fd, from, &self.fd, to)?)
    }

    /// Moves `name` into `into` without replacing anything there: the first free name of
    /// `name`, `name.1`, `name.2` … Returns the path it got.
    pub fn move_into(&self, name: &str, into: &Folder) -> io::Result<PathBuf> {
        for n in 0..=MOVE_SUFFIXES_MAX {
            let target = match n {
                0 => name.to_owned(),
                n => format!("{name}.{n}"),
            };
            match self.move_no_replace(name, into, &target) {
                Ok(()) => return Ok(into.path.join(target)),
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(io::Error::other(format!(
            "{} already holds {name} and {MOVE_SUFFIXES_MAX} numbered copies",
            into.path.display()
        )))
    }

    fn move_no_replace(&self, name: &str, into: &Folder, target: &str) -> Result<(), Errno> {
        #[cfg(target_os = "linux")]
        match rustix::fs::renameat_with(
            &self.fd,
            name,
            &into.fd,
            target,
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            // The file system does not support RENAME_NOREPLACE: link and unlink instead.
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {}
            other => return other,
        }
        // A hard link fails if the target exists; it links a symlink itself, not its target.
        rustix::fs::linkat(&self.fd, name, &into.fd, target, AtFlags::empty())?;
        rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())
    }
}
