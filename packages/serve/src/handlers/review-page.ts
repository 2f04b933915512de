// GET /review: the review page.
import { renderLogOffPage, renderReviewPage } from '../review-page';
import type { Handler } from './context';
import { sendPage } from './page';

// Without the prediction log (serve --no-log) a short page that says so, with 404 like the review API.
export const serveReviewPage: Handler = (ctx, req, res) =>
  ctx.predictionLog ? sendPage(req, res, renderReviewPage()) : sendPage(req, res, renderLogOffPage(), 404);
