//! Where the chart goes: opened before the run, so that a path that
//! cannot be written fails before any load is sent.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::PlotError;

/// Where the chart goes: opened before the run, so that a path that
/// cannot be written fails before any load is sent.
#[derive(Debug)]
pub struct PlotFile {
    path: PathBuf,
    file: File,
}

impl PlotFile {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> Result<PlotFile, PlotError> {
        let file = File::create(path).map_err(|source| PlotError::File {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(PlotFile {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Writes the chart and closes the file.
    pub fn write(mut self, svg: &str) -> Result<(), PlotError> {
        let path = std::mem::take(&mut self.path);
        self.file
            .write_all(svg.as_bytes())
            .and_then(|()| self.file.sync_all())
            .map_err(|source| PlotError::File { path, source })
    }

    /// No chart after all (the run could not start): removes the empty
    /// file.
    pub fn abandon(self) {
        let _ = std::fs::remove_file(&self.path);
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unwritable_path_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/run.svg");
        let e = PlotFile::create(&path).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("cannot write the chart to {path:?}: ")),
            "{text}"
        );
        let ok = dir.path().join("run.svg");
        let file = PlotFile::create(&ok).unwrap();
        file.write("<svg/>").unwrap();
        assert_eq!(std::fs::read_to_string(&ok).unwrap(), "<svg/>");
        PlotFile::create(&ok).unwrap().abandon();
        assert!(!ok.exists());
    }
}
