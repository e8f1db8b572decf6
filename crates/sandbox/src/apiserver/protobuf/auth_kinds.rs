//! The protobuf field tables of the authentication, authorization and
//! RBAC kinds kubectl sends in protobuf (`auth can-i`, `auth whoami`,
//! `create token`, `create role`/`rolebinding`...), numbered as upstream's
//! `generated.proto` files of `authentication/v1`, `authorization/v1` and
//! `rbac/v1`.

use super::Kind::{I64, Msg, Str};
use super::{Field, LABEL_SELECTOR, OBJECT_META, f, p, r};

const RESOURCE_ATTRIBUTES: &[Field] = &[
    f(1, "namespace", Str),
    f(2, "verb", Str),
    f(3, "group", Str),
    f(4, "version", Str),
    f(5, "resource", Str),
    f(6, "subresource", Str),
    f(7, "name", Str),
];
const NON_RESOURCE_ATTRIBUTES: &[Field] = &[f(1, "path", Str), f(2, "verb", Str)];

pub(super) const SELF_SUBJECT_ACCESS_REVIEW: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Msg(&[
            p(1, "resourceAttributes", Msg(RESOURCE_ATTRIBUTES)),
            p(2, "nonResourceAttributes", Msg(NON_RESOURCE_ATTRIBUTES)),
        ]),
    ),
];
pub(super) const SUBJECT_ACCESS_REVIEW: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Msg(&[
            p(1, "resourceAttributes", Msg(RESOURCE_ATTRIBUTES)),
            p(2, "nonResourceAttributes", Msg(NON_RESOURCE_ATTRIBUTES)),
            f(3, "user", Str),
            r(4, "groups", Str),
            f(6, "uid", Str),
        ]),
    ),
];
pub(super) const SELF_SUBJECT_RULES_REVIEW: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    f(2, "spec", Msg(&[f(1, "namespace", Str)])),
];
pub(super) const SELF_SUBJECT_REVIEW: &[Field] = &[f(1, "metadata", Msg(OBJECT_META))];
pub(super) const TOKEN_REQUEST: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Msg(&[
            r(1, "audiences", Str),
            p(4, "expirationSeconds", I64),
            p(
                3,
                "boundObjectRef",
                Msg(&[
                    f(1, "kind", Str),
                    f(2, "apiVersion", Str),
                    f(3, "name", Str),
                    f(4, "uid", Str),
                ]),
            ),
        ]),
    ),
];
pub(super) const TOKEN_REVIEW: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Msg(&[f(1, "token", Str), r(2, "audiences", Str)]),
    ),
];

const POLICY_RULE: &[Field] = &[
    r(1, "verbs", Str),
    r(2, "apiGroups", Str),
    r(3, "resources", Str),
    r(4, "resourceNames", Str),
    r(5, "nonResourceURLs", Str),
];
pub(super) const ROLE: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    r(2, "rules", Msg(POLICY_RULE)),
];
pub(super) const CLUSTER_ROLE: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    r(2, "rules", Msg(POLICY_RULE)),
    p(
        3,
        "aggregationRule",
        Msg(&[r(1, "clusterRoleSelectors", Msg(LABEL_SELECTOR))]),
    ),
];
pub(super) const BINDING: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    r(
        2,
        "subjects",
        Msg(&[
            f(1, "kind", Str),
            f(2, "apiGroup", Str),
            f(3, "name", Str),
            f(4, "namespace", Str),
        ]),
    ),
    f(
        3,
        "roleRef",
        Msg(&[f(1, "apiGroup", Str), f(2, "kind", Str), f(3, "name", Str)]),
    ),
];
