//! Decodes bodies captured from real `kubectl create ...` requests (kubectl
//! v1.32 against a capture server; v1.34.5 sends byte-identical bodies):
//! the exact bytes the sandbox receives.

use super::decode;
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/protobuf/{name}.pb",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap();
    decode(&bytes).unwrap()
}

#[test]
fn secret_generic() {
    assert_eq!(
        fixture("secret-generic"),
        json!({"apiVersion":"v1","data":{"password":"czNjcmV0","user":"YWRtaW4="},"kind":"Secret","metadata":{"name":"db-pass"},"type":""})
    );
}

#[test]
fn secret_docker_registry() {
    assert_eq!(
        fixture("secret-docker-registry"),
        json!({"apiVersion":"v1","data":{".dockerconfigjson":"eyJhdXRocyI6eyJyZWdpc3RyeS5leGFtcGxlLmNvbSI6eyJ1c2VybmFtZSI6InUiLCJwYXNzd29yZCI6InAiLCJlbWFpbCI6InVAZXhhbXBsZS5jb20iLCJhdXRoIjoiZFRwdyJ9fX0="},"kind":"Secret","metadata":{"name":"regcred"},"type":"kubernetes.io/dockerconfigjson"})
    );
}

#[test]
fn configmap() {
    assert_eq!(
        fixture("configmap"),
        json!({"apiVersion":"v1","data":{"API_DB_FILEPATH":"/data/messages.json","msg.txt":"hello\nworld\n"},"kind":"ConfigMap","metadata":{"name":"api-config"}})
    );
}

#[test]
fn namespace() {
    assert_eq!(
        fixture("namespace"),
        json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"lab"}})
    );
}

#[test]
fn deployment() {
    assert_eq!(
        fixture("deployment"),
        json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"msg-api"},"name":"msg-api"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"msg-api"}},"template":{"metadata":{"labels":{"app":"msg-api"}},"spec":{"containers":[{"image":"kubetutor/msg-api:1","name":"msg-api","ports":[{"containerPort":8080}]}]}}}})
    );
}

#[test]
fn deployment_cmd() {
    assert_eq!(
        fixture("deployment-cmd"),
        json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"sleeper"},"name":"sleeper"},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"sleeper"}},"template":{"metadata":{"labels":{"app":"sleeper"}},"spec":{"containers":[{"command":["sh","-c","sleep 3600"],"image":"busybox","name":"busybox"}]}}}})
    );
}

#[test]
fn service() {
    assert_eq!(
        fixture("service"),
        json!({"apiVersion":"v1","kind":"Service","metadata":{"labels":{"app":"web"},"name":"web"},"spec":{"ports":[{"name":"80-8080","port":80,"protocol":"TCP","targetPort":8080}],"selector":{"app":"web"},"type":"ClusterIP"}})
    );
}

#[test]
fn service_nodeport() {
    assert_eq!(
        fixture("service-nodeport"),
        json!({"apiVersion":"v1","kind":"Service","metadata":{"labels":{"app":"np"},"name":"np"},"spec":{"ports":[{"name":"80-8080","nodePort":30080,"port":80,"protocol":"TCP","targetPort":8080}],"selector":{"app":"np"},"type":"NodePort"}})
    );
}

#[test]
fn job() {
    assert_eq!(
        fixture("job"),
        json!({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"once"},"spec":{"template":{"spec":{"containers":[{"command":["echo","hi"],"image":"busybox","name":"once"}],"restartPolicy":"Never"}}}})
    );
}

#[test]
fn cronjob() {
    assert_eq!(
        fixture("cronjob"),
        json!({"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"tick"},"spec":{"jobTemplate":{"metadata":{"name":"tick"},"spec":{"template":{"spec":{"containers":[{"command":["date"],"image":"busybox","name":"tick"}],"restartPolicy":"OnFailure"}}}},"schedule":"*/1 * * * *"}})
    );
}
