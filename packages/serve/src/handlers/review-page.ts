// GET /review: the review page.
import { renderReviewPage } from '../review-page';
import type { Handler } from './context';
import { sendPage } from './page';
import { withSession } from '../auth/login-page';
import { principalOf } from '../auth/principal';

export const serveReviewPage: Handler = (_ctx, req, res) => sendPage(req, res, withSession(renderReviewPage(), principalOf(req)));
