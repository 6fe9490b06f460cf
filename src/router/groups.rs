//! Groups in the hub (issue 15, step 4): not wired yet. Until then every group request is
//! refused with a reason.

use super::Router;
use crate::message::{FrontendEvent, FrontendId, GroupAction, GroupRefusal, MessageKind};

impl Router {
    pub(super) fn group_send(
        &mut self,
        from: FrontendId,
        channel: String,
        _: MessageKind,
        _: String,
    ) {
        self.refuse_group(from, channel, None);
    }

    pub(super) fn group_request(&mut self, from: FrontendId, channel: String, action: GroupAction) {
        self.refuse_group(from, channel, Some(action));
    }

    fn refuse_group(&mut self, from: FrontendId, channel: String, action: Option<GroupAction>) {
        let reason = GroupRefusal::Failed("groups are not wired into the hub yet".into());
        self.reply_to(
            from,
            FrontendEvent::GroupRefused {
                channel,
                action,
                reason,
            },
        );
    }
}
