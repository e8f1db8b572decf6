//! The nginx image's own programs, registered in its userland: `nginx`
//! and `nginx-debug` run in the container (`kubectl exec ... nginx -t`,
//! `-T`, `-v`, `-s reload`) as [`super::program`] says, with the
//! container's files and the pod's network.

use crate::shell::applets::{Ctx, ProgramFn, Ret};

/// Name → program, for [`crate::images::userland`].
pub fn programs() -> Vec<(&'static str, ProgramFn)> {
    vec![("nginx", nginx), ("nginx-debug", nginx)]
}

fn nginx(ctx: &mut Ctx, args: &[String]) -> Ret {
    let image = ctx.sys.userland.image.clone();
    let (out, err, code) = super::program(&image, args, &ctx.sys.fs, ctx.sys.network.as_ref());
    ctx.out(&out)?;
    ctx.errs(&String::from_utf8_lossy(&err));
    Ok(code)
}
