//! What can go wrong decrypting a SOPS file. Every message names the file (and, where one
//! is known, the recipient whose data key was used); none ever carries a decrypted value, the
//! data key or an identity.

/// A SOPS file that cannot be decrypted, or a key file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum DecryptError {
    #[error(
        "{file}: encrypted with SOPS for {recipients}, but no key is given (decryption.keyFile \
         or decryption.secretRef in the app's config; --decryption-key-file or SOPS_AGE_KEY_FILE \
         for the CLI)"
    )]
    NoKey { file: String, recipients: String },
    #[error(
        "{file}: no identity in {key_file} opens its data key; it was encrypted for {recipients}"
    )]
    NoMatchingKey {
        file: String,
        key_file: String,
        recipients: String,
    },
    /// The GCM tag of a value does not verify: the value, its key or its place was edited.
    #[error(
        "{file}: the value at {path} does not decrypt with the data key of {recipient}: it was \
         changed after encryption"
    )]
    Value {
        file: String,
        path: String,
        recipient: String,
    },
    #[error(
        "{file}: MAC mismatch (data key of {recipient}): the file was changed after it was \
         encrypted"
    )]
    MacMismatch { file: String, recipient: String },
    #[error("{file}: malformed SOPS file: {field}: {reason}")]
    Malformed {
        file: String,
        field: String,
        reason: String,
    },
    #[error("{file}: {what} is not supported by ordo's SOPS decryption")]
    Unsupported { file: String, what: String },
    #[error("key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    /// The app's `decryption.secretRef` cannot be read or holds no usable identity.
    #[error("decryption keys in Secret {secret}: {reason}")]
    KeySecret { secret: String, reason: String },
    /// Kustomize, and helm for a chart's own files, read their inputs from the render's
    /// temporary directory: decrypting for them would put the cleartext there, which the
    /// issue rules out. Helm values files are the exception (they go on helm's stdin).
    #[error(
        "{file}: SOPS-encrypted files are only decrypted for plain directory sources and as \
         Helm values files (helm.valueFiles); a {kind} render reads this one from its temporary \
         directory, where the cleartext must not be written"
    )]
    Rendered { file: String, kind: String },
    /// A render read a SOPS file from outside the app path (a Kustomize base elsewhere in
    /// the repository): its output holds ciphertext, which must not be applied as data.
    #[error(
        "{file}: the {kind} render's output holds SOPS-encrypted values (ENC[…]); SOPS files \
         are only decrypted for plain directory sources and as Helm values files"
    )]
    CiphertextRendered { file: String, kind: String },
}

impl DecryptError {
    /// Not the commit's fault, and may pass without a new commit: the keys could not be read
    /// (the key Secret is missing, unreadable or the API server did not answer; the key file
    /// is gone). A file that does not decrypt with the keys, or whose MAC does not match, is
    /// the commit's.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            DecryptError::KeySecret { .. } | DecryptError::KeyFile { .. }
        )
    }

    pub(super) fn malformed(file: &str, field: &str, reason: impl Into<String>) -> Self {
        DecryptError::Malformed {
            file: file.to_owned(),
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    pub(super) fn unsupported(file: &str, what: impl Into<String>) -> Self {
        DecryptError::Unsupported {
            file: file.to_owned(),
            what: what.into(),
        }
    }
}
