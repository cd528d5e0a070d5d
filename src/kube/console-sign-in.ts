// Console sign-in with a Kubernetes bearer token, in the controller: the API server says who the
// token is (TokenReview) and what it may do with the mdmops custom resources (SubjectAccessReview,
// cluster-wide): patch every kind makes a System Manager, list every kind a System Read-Only.
import type { KubeClient } from './client.js';

export type ConsoleRole = 'manager' | 'read-only';

interface UserInfo {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export function kubeConsoleSignIn(client: KubeClient, plurals: string[]): (token: string) => Promise<{ name: string; role: ConsoleRole } | undefined> {
  const allowed = async (user: UserInfo, verb: string): Promise<boolean> => {
    for (const resource of plurals) {
      const review = await client.request<{ status?: { allowed?: boolean } }>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: { user: user.username, uid: user.uid, groups: user.groups, extra: user.extra, resourceAttributes: { group: 'mdmops.io', resource, verb } },
      });
      if (!review.status?.allowed) return false;
    }
    return true;
  };
  return async (token) => {
    const review = await client.request<{ status?: { authenticated?: boolean; user?: UserInfo } }>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token },
    });
    const user = review.status?.authenticated ? review.status.user : undefined;
    if (!user) return undefined;
    if (await allowed(user, 'patch')) return { name: user.username, role: 'manager' };
    if (await allowed(user, 'list')) return { name: user.username, role: 'read-only' };
    return undefined;
  };
}
