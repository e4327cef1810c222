//! Reading the few fields health rules look at. Absent fields read as the API server's defaults
//! (0, false, ""), because a status the controller has not written yet means "nothing done".

use serde_json::Value;

pub(super) fn str_at<'a>(object: &'a Value, pointer: &str) -> Option<&'a str> {
    object.pointer(pointer).and_then(Value::as_str)
}

pub(super) fn int_at(object: &Value, pointer: &str) -> Option<i64> {
    object.pointer(pointer).and_then(Value::as_i64)
}

/// An integer count in status or spec; absent counts are zero.
pub(super) fn count(object: &Value, pointer: &str) -> i64 {
    int_at(object, pointer).unwrap_or(0)
}

pub(super) fn flag(object: &Value, pointer: &str) -> bool {
    object
        .pointer(pointer)
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// `spec.replicas`, which the API server defaults to 1 for every workload kind.
pub(super) fn desired_replicas(object: &Value) -> i64 {
    int_at(object, "/spec/replicas").unwrap_or(1)
}

/// true once the controller has seen the latest spec (`status.observedGeneration` caught up
/// with `metadata.generation`); before that, every other status field describes the old spec.
pub(super) fn spec_observed(object: &Value) -> bool {
    count(object, "/metadata/generation") <= count(object, "/status/observedGeneration")
}

/// One entry of `status.conditions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Condition<'a> {
    /// "True", "False" or "Unknown".
    pub status: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
    /// The generation this condition describes (KEP-1623); older means it is stale.
    pub observed_generation: Option<i64>,
}

impl Condition<'_> {
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }

    pub fn is_false(&self) -> bool {
        self.status == "False"
    }

    /// The message, or the reason when the controller wrote no message.
    pub fn explanation(&self) -> &str {
        if self.message.is_empty() {
            self.reason
        } else {
            self.message
        }
    }
}

/// The condition of type `kind` in `status.conditions`, if the controller wrote one.
pub(super) fn condition<'a>(object: &'a Value, kind: &str) -> Option<Condition<'a>> {
    condition_in(object.pointer("/status/conditions")?, kind)
}

/// The condition of type `kind` in a list of conditions.
pub(super) fn condition_in<'a>(conditions: &'a Value, kind: &str) -> Option<Condition<'a>> {
    let found = conditions
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))?;
    let text = |key: &str| found.get(key).and_then(Value::as_str).unwrap_or_default();
    Some(Condition {
        status: text("status"),
        reason: text("reason"),
        message: text("message"),
        observed_generation: found.get("observedGeneration").and_then(Value::as_i64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_fields_read_as_defaults() {
        let empty = json!({});
        assert_eq!(count(&empty, "/status/readyReplicas"), 0);
        assert_eq!(desired_replicas(&empty), 1);
        assert!(!flag(&empty, "/spec/paused"));
        assert!(spec_observed(&empty));
        assert_eq!(condition(&empty, "Ready"), None);
    }

    #[test]
    fn spec_observed_compares_generations() {
        let behind = json!({"metadata": {"generation": 3}, "status": {"observedGeneration": 2}});
        let caught_up = json!({"metadata": {"generation": 3}, "status": {"observedGeneration": 3}});
        let never_seen = json!({"metadata": {"generation": 1}, "status": {}});
        assert!(!spec_observed(&behind));
        assert!(spec_observed(&caught_up));
        assert!(!spec_observed(&never_seen));
    }

    #[test]
    fn condition_finds_by_type_and_explains_with_reason_when_no_message() {
        let object = json!({"status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "Broken"},
            {"type": "Available", "status": "True", "reason": "Ok", "message": "all good"},
        ]}});
        let ready = condition(&object, "Ready").expect("present");
        assert!(ready.is_false() && !ready.is_true());
        assert_eq!(ready.explanation(), "Broken");
        let available = condition(&object, "Available").expect("present");
        assert!(available.is_true());
        assert_eq!(available.explanation(), "all good");
        assert_eq!(condition(&object, "Progressing"), None);
    }
}
