"""Everyday queries about the seeds: the answering paragraph is in the top 3, highlighted."""

from __future__ import annotations

import pytest

from searchsvc.search import search

# (query, a phrase of the paragraph that answers it)
EVERYDAY = [
    ("杜志斌 不孕不育", "擅长中西医结合治疗不孕不育的杜志斌"),
    ("两癌筛查", "感谢两癌筛查"),
    ("ECMO 呼吸衰竭", "首次通过ECMO成功救治重度呼吸衰竭患者"),
    ("千县工程", "以党建引领推进“千县工程”"),
    ("DRG 医保", "医院积极推进DRG医保支付方式改革"),
    ("书记夜校", "“书记夜校”第五课召开"),
    ("尘肺病", "为尘肺病患者进行排痰治疗"),
    ("彩色多普勒超声", "购置彩色多普勒超声系统"),
    ("糖尿病足", "首例糖尿病足下肢动脉闭塞开通手术"),
    ("胡子成", "神经内科主任胡子成"),
    ("新生儿复苏", "全国新生儿复苏技能大赛"),
    ("中药奶茶", "“中药奶茶”等特色产品"),
    ("心血管内科 冠状动脉", "冠状动脉支架植入术"),
    ("綦江区中医院 脑病科", "脑病科还成功为两例脑血管疾病患者"),
    ("新冠疫苗 接种", "为加快推进新冠疫苗接种"),
    ("王大爷 腹腔大出血", "王大爷谈及腹腔大出血的救治经历"),
    ("家庭医生", "9个家庭医生团队为全镇居民建立健康电子档案"),
    ("近视防控", "儿童青少年近视防控光明行动工作方案"),
    ("ISO15189", "ISO15189医学实验室复评"),
    ("社会心理服务体系 试点", "合川是全国首批开展社会心理服务体系试点的区县"),
]


@pytest.mark.parametrize(("query", "answer"), EVERYDAY)
def test_answer_in_top_three_and_top_hit_highlighted(engine, query, answer):
    hits = search(engine, query, size=3).hits
    assert any(answer in h.text for h in hits), [h.text[:40] for h in hits]
    assert "<mark>" in hits[0].highlight
