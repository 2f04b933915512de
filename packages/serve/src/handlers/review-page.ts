// GET /review: the review page.
import { renderReviewPage } from '../review-page';
import type { Handler } from './context';
import { sendPage } from './page';

export const serveReviewPage: Handler = (_ctx, req, res) => sendPage(req, res, renderReviewPage());
