// Signing in to the web console as a browser does: the sign-in form is read first, for its CSRF
// token and the cookie that holds it, then posted with the token.

/** The answer to the posted sign-in form (303 with the session cookie, or 401/403). */
export async function postSignIn(base: string, token: string): Promise<Response> {
  const form = await fetch(`${base}/ui/sign-in`);
  const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
  const cookie = (form.headers.get('set-cookie') ?? '').split(';')[0]!;
  return fetch(`${base}/ui/sign-in`, { method: 'POST', headers: { cookie }, body: new URLSearchParams({ csrf, token }), redirect: 'manual' });
}

/** A session's cookie ("name=value"), for the pages that follow. */
export async function sessionCookie(base: string, token: string): Promise<string> {
  const res = await postSignIn(base, token);
  if (res.status !== 303) throw new Error(`sign-in answered ${res.status}: ${await res.text()}`);
  return res.headers.get('set-cookie')!.split(';')[0]!;
}
