// GET /review: the review page.
import { renderLogOffPage, renderReviewPage } from '../review-page';
import type { Handler } from './context';
import { sendPage } from './page';
import { withSession } from '../auth/login-page';
import { principalOf } from '../auth/principal';

// Without the prediction log (serve --no-log) a short page that says so, with 404 like the review API.
export const serveReviewPage: Handler = (ctx, req, res) =>
  ctx.predictionLog ? sendPage(req, res, withSession(renderReviewPage(), principalOf(req))) : sendPage(req, res, renderLogOffPage(), 404);
